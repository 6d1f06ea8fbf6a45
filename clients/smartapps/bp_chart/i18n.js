// The app's two languages: `?lang=` first, else navigator.language (zh* → zh-CN, else en).
// Kept across the launch's navigations in sessionStorage (where the browser allows it), so
// the redirect page speaks the language the launch page chose.
const TEXT = {
  'zh-CN': {
    title: '血压趋势图',
    launching: '正在连接电子病历系统…',
    registering: '正在向服务器注册本应用…',
    authorizing: '正在请求授权…',
    exchanging: '正在换取访问令牌…',
    loading: '正在读取血压数据…',
    refresh: '重新读取',
    refreshLabel: '重新读取当前患者的血压数据',
    patient: '患者',
    systolic: '收缩压',
    diastolic: '舒张压',
    date: '日期',
    unit: '单位',
    chartLabel: '收缩压与舒张压随时间变化的折线图',
    tableLabel: '血压数值表',
    none: '没有找到该患者的血压记录。',
    refused: '请求被拒绝：',
    denied: '授权被拒绝：本应用无法读取该患者的数据。',
    failed: '出错了：',
    noLaunch: '缺少 iss 或 launch 参数：请从工作站启动本应用。',
    badState: '授权回调的 state 不匹配：已忽略。',
    noParent: '本应用需要在工作站中打开（没有父页面可以请求数据）。',
    timeout: '工作站没有回应数据请求。',
    count: '共 {n} 次测量',
  },
  en: {
    title: 'Blood-pressure chart',
    launching: 'Connecting to the EHR…',
    registering: 'Registering this app with the server…',
    authorizing: 'Asking for authorisation…',
    exchanging: 'Exchanging the code for an access token…',
    loading: 'Reading blood pressures…',
    refresh: 'Read again',
    refreshLabel: "Read the current patient's blood pressures again",
    patient: 'Patient',
    systolic: 'Systolic',
    diastolic: 'Diastolic',
    date: 'Date',
    unit: 'Unit',
    chartLabel: 'Line chart of systolic and diastolic blood pressure over time',
    tableLabel: 'Blood-pressure values',
    none: 'No blood-pressure readings were found for this patient.',
    refused: 'Request refused: ',
    denied: "Authorisation denied: this app cannot read the patient's data.",
    failed: 'Something went wrong: ',
    noLaunch: 'The iss or launch parameter is missing: launch this app from the workstation.',
    badState: 'The authorisation answer had an unknown state: ignored.',
    noParent: 'This app must be opened inside the workstation (no parent page to ask for data).',
    timeout: 'The workstation did not answer the data request.',
    count: '{n} readings',
  },
};

function storedLocale() {
  try {
    return sessionStorage.getItem('bp-chart.lang');
  } catch {
    return null; // storage blocked in this frame
  }
}

export function pickLocale(search = location.search, language = navigator.language, stored = storedLocale()) {
  const asked = new URLSearchParams(search).get('lang');
  const choice = asked || stored || language || 'zh-CN';
  return /^zh/i.test(choice) ? 'zh-CN' : 'en';
}

export const locale = typeof location === 'undefined' ? 'zh-CN' : pickLocale();
try {
  sessionStorage.setItem('bp-chart.lang', locale);
} catch {
  // no storage here (node, or blocked in a third-party frame): ?lang= or the browser decides
}
if (typeof document !== 'undefined') document.documentElement.lang = locale;

export function t(key, params = {}, lang = locale) {
  const text = TEXT[lang][key] ?? TEXT['zh-CN'][key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, k) => String(params[k] ?? ''));
}

export const LOCALES = TEXT;
