// SMART 应用桥接的中文文本；键与 smart.en.js 相同（test/i18n.test.js 检查）。
export default {
  'smart.apps': '应用', 'smart.appsLabel': '本机构已安装、可在此病历上启动的应用',
  'smart.listTitle': '在此病历上启动应用', 'smart.none': '本机构尚未安装您可启动的应用。',
  'smart.launch': '启动', 'smart.launchLabel': '在此病历上启动 {name}', 'smart.close': '关闭应用',
  'smart.frameTitle': 'SMART 应用 {name}', 'smart.running': '{name} · 患者 {patient}',
  'smart.consentTitle': '{name} 请求访问', 'smart.consentIntro': '应用只能看到您批准的内容：数据由本页面用您的密钥读取并解密后交给应用；每次读取都以您的名义、注明该应用记录在链上。',
  'smart.consentPatient': '患者', 'smart.consentScopes': '权限（取消勾选即拒绝该项）', 'smart.dropped': '未提供（超出本机构安装的范围）：{scopes}',
  'smart.approve': '批准并签名', 'smart.deny': '拒绝', 'smart.approved': '已批准：已在链上签署，交易 {tx}',
  'smart.denied': '您已拒绝该应用的访问。', 'smart.reads': '已应答该应用 {n} 次请求', 'smart.refusedRequest': '已拒绝该应用的一次请求：{why}',
  'smart.scopeLabel': '允许：{text}',
};
