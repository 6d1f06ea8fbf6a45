// The workstation's entry: Element Plus (its zh-CN locale by default, English on a switch)
// and the one App component. No router: the view is part of the page's state.
import { createApp } from 'vue';
import ElementPlus from 'element-plus';
import 'element-plus/dist/index.css';
import App from './App.vue';
import { initLocale } from './i18n.js';
import { loadConfig } from './state.js';
import './style.css';

document.documentElement.lang = initLocale(localStorage);
await loadConfig();
createApp(App).use(ElementPlus).mount('#app');
