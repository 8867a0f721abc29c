export { registerViewer, VIEWER_PATH, viewerAssetsDir } from './register-viewer.js';
