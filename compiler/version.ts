// The onebitc version written into every bundle (kept in step with package.json by a test).
export const ONEBITC_VERSION = '0.1.0';
