// The workstation's entry: the Element Plus components the views use (imported one by one,
// so the bundle carries only those), its zh-CN locale by default and English on a switch
// (App.vue's el-config-provider), and the one App component. No router: the view is part of
// the page's state.
import { createApp } from 'vue';
import {
  ElAlert, ElAside, ElButton, ElCard, ElCol, ElConfigProvider, ElContainer, ElDatePicker,
  ElDescriptions, ElDescriptionsItem, ElDialog, ElDrawer, ElEmpty, ElForm, ElFormItem, ElHeader, ElInput,
  ElInputNumber, ElLoading, ElMain, ElMenu, ElMenuItem, ElOption, ElRadio, ElRadioGroup, ElRate, ElRow,
  ElSelect, ElSwitch, ElTable, ElTableColumn, ElTag, ElTimeline, ElTimelineItem,
} from 'element-plus';
import 'element-plus/dist/index.css';
import App from './App.vue';
import { initLocale } from './i18n.js';
import { loadConfig } from './state.js';
import './style.css';

const COMPONENTS = [
  ElAlert, ElAside, ElButton, ElCard, ElCol, ElConfigProvider, ElContainer, ElDatePicker,
  ElDescriptions, ElDescriptionsItem, ElDialog, ElDrawer, ElEmpty, ElForm, ElFormItem, ElHeader, ElInput,
  ElInputNumber, ElLoading, ElMain, ElMenu, ElMenuItem, ElOption, ElRadio, ElRadioGroup, ElRate, ElRow,
  ElSelect, ElSwitch, ElTable, ElTableColumn, ElTag, ElTimeline, ElTimelineItem,
];

document.documentElement.lang = initLocale(localStorage);
await loadConfig();
const app = createApp(App);
for (const component of COMPONENTS) app.use(component);
app.mount('#app');
