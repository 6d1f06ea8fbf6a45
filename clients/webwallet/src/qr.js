// Reading a doctor's QR code (the workstation's profile shows the doctor's address as one):
// the browser's BarcodeDetector where it has one (Android, macOS, ChromeOS), else jsQR on the
// pixels (desktop Linux/Windows Chromium, Firefox, Safari). jsQR is loaded only when needed, so
// the wallet's first load does not carry it. Pictures are scaled to at most MAX_SIDE pixels so
// a 48-megapixel photo does not cost hundreds of MiB of RGBA.
const MAX_SIDE = 1600;

async function nativeDetector() {
  if (!('BarcodeDetector' in globalThis)) return null;
  try {
    const formats = await globalThis.BarcodeDetector.getSupportedFormats();
    return formats.includes('qr_code') ? new globalThis.BarcodeDetector({ formats: ['qr_code'] }) : null;
  } catch {
    return null;
  }
}

function sizeOf(source) {
  return [source.videoWidth || source.width, source.videoHeight || source.height];
}

/** The text of the first QR code in an image, video frame or canvas; null when none is seen. */
export async function decodeQr(source) {
  const detector = await nativeDetector();
  if (detector) {
    const codes = await detector.detect(source);
    if (codes.length) return codes[0].rawValue;
    return null;
  }
  const [w, h] = sizeOf(source);
  if (!w || !h) return null;
  const scale = Math.min(1, MAX_SIDE / Math.max(w, h));
  const canvas = document.createElement('canvas');
  canvas.width = Math.max(1, Math.round(w * scale));
  canvas.height = Math.max(1, Math.round(h * scale));
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  ctx.drawImage(source, 0, 0, canvas.width, canvas.height);
  const pixels = ctx.getImageData(0, 0, canvas.width, canvas.height);
  const { default: jsQR } = await import('jsqr');
  return jsQR(pixels.data, pixels.width, pixels.height, { inversionAttempts: 'attemptBoth' })?.data ?? null;
}

/** Decode a chosen picture file (a photo of the doctor's screen, a screenshot). */
export async function decodeQrFile(file) {
  const bitmap = await createImageBitmap(file);
  try {
    return await decodeQr(bitmap);
  } finally {
    bitmap.close?.();
  }
}

/**
 * Scan the camera until a QR code is read (resolves its text) or `stop()` is called (null).
 * The stream is always stopped at the end, so the camera light goes off.
 */
export function scanCamera(video, { interval = 250 } = {}) {
  let stopped = false;
  let stream = null;
  const done = (async () => {
    stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: 'environment' }, audio: false });
    try {
      video.srcObject = stream;
      await video.play();
      while (!stopped) {
        const text = video.readyState >= 2 ? await decodeQr(video) : null;
        if (text) return text;
        await new Promise((r) => setTimeout(r, interval));
      }
      return null;
    } finally {
      stream.getTracks().forEach((track) => track.stop());
      video.srcObject = null;
    }
  })();
  return {
    done,
    stop() {
      stopped = true;
    },
  };
}
