// The generated plan module, provided to the bundler by compiler/codegen/js when model.js is built.
declare module 'onebitc:plan' {
  export const plan: import('./plan.ts').Plan;
}
