// The SMART app bridge's English strings; same keys as smart.zh-CN.js (test/i18n.test.js checks).
export default {
  'smart.apps': 'Apps', 'smart.appsLabel': 'Apps my institution installed, to launch on this chart',
  'smart.listTitle': 'Launch an app on this chart', 'smart.none': 'Your institution has installed no app you can launch.',
  'smart.launch': 'Launch', 'smart.launchLabel': 'Launch {name} on this chart', 'smart.close': 'Close the app',
  'smart.frameTitle': 'SMART app {name}', 'smart.running': '{name} · patient {patient}',
  'smart.consentTitle': '{name} asks for access', 'smart.consentIntro': 'The app will see only what you approve, read through this page with your key; each read is logged on chain in your name, for this app.',
  'smart.consentPatient': 'Patient', 'smart.consentScopes': 'Permissions (untick to refuse one)', 'smart.dropped': 'Not offered (outside what your institution installed): {scopes}',
  'smart.approve': 'Approve and sign', 'smart.deny': 'Deny', 'smart.approved': 'Approved: signed on chain, tx {tx}',
  'smart.denied': 'You denied the app access.', 'smart.reads': 'Answered {n} requests of the app', 'smart.refusedRequest': 'Refused a request of the app: {why}',
  'smart.scopeLabel': 'Allow: {text}',
};
