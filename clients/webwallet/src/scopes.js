// SMART App Launch scopes in plain language, zh-CN and English: what an app in the
// marketplace asks for, read by a hospital admin, a reviewer or a patient who is not an OAuth
// expert. The one explainer: the workstation re-exports it (clients/workstation/src/scopes.js);
// the patient's wallet passes `{ viewer: 'patient' }` so a `patient/` scope reads "your …", not "the current
// patient's …". Pure (no DOM, no i18n state): `explainScope(scope, 'zh-CN' | 'en', options)`.
// Covers SMART v1 (`patient/Observation.read`, `.write`, `.*`) and v2 (`patient/Observation.rs`, the letters
// c r u d s in that order, an optional `?param=value` query), the launch context scopes,
// `openid`, `fhirUser`, `profile`, `offline_access` and `online_access`. An unknown scope is
// reported as such (`valid: false`), never explained away.

const RESOURCES = {
  '*': ['所有类型的健康记录', 'health records of every kind'],
  Patient: ['基本信息（姓名、性别、出生日期）', 'demographics (name, sex, date of birth)'],
  Observation: ['观察结果（检验结果、生命体征）', 'observations (lab results, vital signs)'],
  Condition: ['诊断与健康问题', 'diagnoses and health problems'],
  MedicationRequest: ['处方与用药医嘱', 'prescriptions and medication orders'],
  MedicationStatement: ['用药记录', 'medication records'],
  AllergyIntolerance: ['过敏与不耐受', 'allergies and intolerances'],
  Encounter: ['就诊记录', 'visits'],
  DiagnosticReport: ['检查检验报告', 'diagnostic reports'],
  Immunization: ['疫苗接种记录', 'immunisations'],
  Procedure: ['手术与操作', 'procedures'],
  DocumentReference: ['临床文书', 'clinical documents'],
  CarePlan: ['护理计划', 'care plans'],
  ServiceRequest: ['检查与服务申请', 'service requests'],
  Practitioner: ['医务人员信息', 'clinicians\' details'],
  Organization: ['机构信息', 'organisations\' details'],
};

const LETTERS = 'cruds';
const VERBS = {
  c: ['创建', 'create'],
  r: ['读取', 'read'],
  u: ['修改', 'update'],
  d: ['删除', 'delete'],
  s: ['搜索', 'search'],
};
const V1 = { read: 'rs', write: 'cud', '*': 'cruds' };

const CONTEXTS = {
  patient: ['当前患者的', 'the current patient\'s'],
  self: ['您的', 'your'],
  user: ['您有权查看的所有患者的', 'any patient\'s, as far as you yourself may see them,'],
  system: ['（无需用户登录，系统级）所有', '(without a signed-in user, system-wide) all'],
};

const SPECIAL = {
  openid: ['确认您的身份（OpenID Connect 登录）', 'Confirm who you are (OpenID Connect sign-in)', 'identity'],
  fhirUser: ['获知您的用户身份（您是哪位医生或患者）', 'Learn who you are as a user (which clinician or patient)', 'identity'],
  profile: ['获知您的用户资料（SMART v1 旧写法）', 'Learn your user profile (the SMART v1 spelling)', 'identity'],
  launch: ['从工作站启动时获知当前的就诊上下文', 'Receive the current context when launched from the workstation', 'launch'],
  'launch/patient': ['获知当前选中的患者（启动时未选中则请您选择）', 'Know which patient is selected (you pick one if none is)', 'launch'],
  'launch/encounter': ['获知当前的就诊', 'Know the current visit', 'launch'],
  offline_access: ['在您退出后仍可长期访问（离线刷新令牌）', 'Keep access after you sign out (an offline refresh token)', 'refresh'],
  online_access: ['在您登录期间持续访问（在线刷新令牌）', 'Keep access while you are signed in (an online refresh token)', 'refresh'],
};

const DATA_SCOPE = /^(patient|user|system)\/([A-Za-z]+|\*)\.([a-z*]+)(\?[^\s]+)?$/;

function idx(locale) {
  return locale === 'en' ? 1 : 0;
}

/** The permission letters of a scope's suffix (v2 `rs`, v1 `read`), or null when invalid. */
export function permissions(suffix) {
  if (suffix in V1) return V1[suffix];
  if (!/^[cruds]+$/.test(suffix)) return null;
  // v2: each letter once, in the order c r u d s
  const order = [...suffix].map((c) => LETTERS.indexOf(c));
  return order.every((v, i) => i === 0 || v > order[i - 1]) ? suffix : null;
}

function joinVerbs(letters, locale) {
  const verbs = [...letters].map((c) => VERBS[c][idx(locale)]);
  if (locale !== 'en') return verbs.join('、');
  if (verbs.length === 1) return verbs[0];
  return `${verbs.slice(0, -1).join(', ')} and ${verbs[verbs.length - 1]}`;
}

/**
 * One scope in plain language: {scope, text, kind ('data' | 'launch' | 'identity' | 'refresh'
 * | 'unknown'), valid, writes (true when the app may change records)}.
 */
export function explainScope(scope, locale = 'zh-CN', { viewer = 'user' } = {}) {
  const i = idx(locale);
  const special = SPECIAL[scope];
  if (special) return { scope, text: special[i], kind: special[2], valid: true, writes: false };
  const m = DATA_SCOPE.exec(scope);
  const letters = m ? permissions(m[3]) : null;
  // SMART v1 (`.read`, `.write`, `.*`) has no query; v2 letters may take one
  if (!m || !letters || (m[2] !== '*' && !/^[A-Z]/.test(m[2])) || (m[4] && m[3] in V1)) {
    const text = locale === 'en' ? `Unknown permission “${scope}”: not a SMART scope` : `未知权限“${scope}”：不是 SMART 权限范围`;
    return { scope, text, kind: 'unknown', valid: false, writes: false };
  }
  const [, given, resource, , query] = m;
  const context = given === 'patient' && viewer === 'patient' ? 'self' : given;
  const what = RESOURCES[resource]?.[i] ?? (locale === 'en' ? `${resource} records` : `${resource} 类记录`);
  const verbs = joinVerbs(letters, locale);
  let text = locale === 'en'
    ? `${verbs[0].toUpperCase()}${verbs.slice(1)} ${CONTEXTS[context][1]} ${what}`
    : `${verbs}${CONTEXTS[context][0]}${what}`;
  if (query) {
    const where = query.slice(1).replaceAll('&', locale === 'en' ? ' and ' : '且');
    text += locale === 'en' ? `, only where ${where}` : `，仅限 ${where}`;
  }
  return { scope, text, kind: 'data', valid: true, writes: /[cud]/.test(letters) };
}

/** Every scope of a space-separated string (or a list), in order, duplicates dropped. */
export function explainScopes(scopes, locale = 'zh-CN', options = {}) {
  const list = Array.isArray(scopes) ? scopes : String(scopes ?? '').split(/\s+/);
  return [...new Set(list.map((s) => String(s).trim()).filter(Boolean))].map((s) => explainScope(s, locale, options));
}
