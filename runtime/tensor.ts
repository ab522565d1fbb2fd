export * from '../formats/tensor.ts';
