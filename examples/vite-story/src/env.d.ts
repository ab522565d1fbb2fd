// Types for `?onebit` imports (the same as "types": ["onebitc/client"] in tsconfig.json).
import 'onebitc/client';
