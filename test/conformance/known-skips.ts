// ONNX node cases of supported ops that are not run, each with the reason. Keep this list short and honest.
export const KNOWN_SKIPS: Readonly<Record<string, string>> = {};
