// Lint: ESLint with typescript-eslint's recommended rules (no type information: fast on a small
// CI machine), plus the layering of src/ (README, "Architecture"). Formatting is Prettier's.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** executor/, plan/ and report/ are the generic engine: they know operations only through src/plan/operation.ts. */
const engineLayering = {
  'no-restricted-imports': [
    'error',
    {
      patterns: [
        {
          group: ['**/operations', '**/operations/*'],
          message: 'the engine (executor/, plan/, report/) may not import operations/: declare what it needs in src/plan/operation.ts',
        },
        { group: ['**/cli', '**/cli/*'], message: 'only the command line imports cli/' },
      ],
    },
  ],
};

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', '.lab*/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { ecmaVersion: 2023, sourceType: 'module' },
    rules: {
      // Rules the code meets by design or that would need rewrites for no gain:
      '@typescript-eslint/no-explicit-any': 'off', // operation registries hold OperationDef<any>
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' }],
      'no-control-regex': 'off', // escaping control characters is what printable() and short() do
      'no-empty': ['error', { allowEmptyCatch: true }],
      // A timer cleared in a callback declared before it is set (connection/exec.ts).
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
    },
  },
  // bin/ is plain JavaScript run by Node.
  { files: ['bin/**/*.js'], languageOptions: { globals: { process: 'readonly' } } },
  // Later entries win for the same rule: the engine's list (which has the cli/ rule too) comes last.
  {
    files: ['src/**'],
    ignores: ['src/cli/**'],
    rules: { 'no-restricted-imports': ['error', { patterns: [{ group: ['**/cli', '**/cli/*'], message: 'only the command line imports cli/' }] }] },
  },
  { files: ['src/executor/**', 'src/plan/**', 'src/report/**'], rules: engineLayering },
);
