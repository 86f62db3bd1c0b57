// The public API as users see it, read with the TypeScript compiler: every name src/index.ts exports (into the
// namespaces it re-exports) with its doc comment, and every @example in src/. The doc tests judge these.

import { dirname, join } from "node:path";
import ts from "typescript";

export const root = join(__dirname, "..", "..");
export const entry = join(root, "src", "index.ts");

export interface ApiExport {
  /** dotted path as a user writes it: `scan`, `packet.tcp.writeSynPacket` */
  name: string;
  kind: "function" | "class" | "interface" | "type" | "variable" | "namespace";
  /** the doc comment's text without tags, "" when there is none */
  doc: string;
  /** the texts of its @example tags */
  examples: string[];
  /** where it is declared (file:line), for messages */
  where: string;
}

export interface DocExample {
  code: string;
  /** file:line of the @example tag */
  where: string;
  /** the declaration it documents */
  owner: string;
}

function compilerOptions(): ts.CompilerOptions {
  const file = join(root, "tsconfig.json");
  const config = ts.readConfigFile(file, (f) => ts.sys.readFile(f));
  return ts.parseJsonConfigFileContent(config.config, ts.sys, dirname(file)).options;
}

export function createApiProgram(): ts.Program {
  return ts.createProgram([entry], compilerOptions());
}

function location(node: ts.Node): string {
  const sf = node.getSourceFile();
  const { line } = sf.getLineAndCharacterOfPosition(node.getStart(sf));
  return `${sf.fileName.slice(root.length + 1)}:${line + 1}`;
}

function kindOf(symbol: ts.Symbol): ApiExport["kind"] | undefined {
  const f = symbol.flags;
  if (f & ts.SymbolFlags.Function) return "function";
  if (f & ts.SymbolFlags.Class) return "class";
  if (f & ts.SymbolFlags.Interface) return "interface";
  if (f & ts.SymbolFlags.TypeAlias) return "type";
  if (f & ts.SymbolFlags.Variable) return "variable";
  if (f & ts.SymbolFlags.ValueModule) return "namespace";
  return undefined;
}

/** The JSDoc blocks right before a declaration (for a `const`, the ones of its statement). */
function jsDocsOf(node: ts.Node): ts.JSDoc[] {
  return ts.getJSDocCommentsAndTags(node).filter((d): d is ts.JSDoc => ts.isJSDoc(d));
}

function tagText(tag: ts.JSDocTag): string {
  return ts.getTextOfJSDocComment(tag.comment) ?? "";
}

function describe(name: string, kind: ApiExport["kind"], docNode: ts.Node): ApiExport {
  const docs = jsDocsOf(docNode);
  const doc = docs
    .map((d) => ts.getTextOfJSDocComment(d.comment) ?? "")
    .join("\n")
    .trim();
  const examples = docs.flatMap((d) =>
    (d.tags ?? []).filter((t) => t.tagName.text === "example").map(tagText),
  );
  return { name, kind, doc, examples, where: location(docNode) };
}

/**
 * Every export of src/index.ts and, through `export * as`, of the namespaces it re-exports. A namespace's doc
 * comment is the one on its `export * as` line.
 */
export function publicApi(program: ts.Program): ApiExport[] {
  const checker = program.getTypeChecker();
  const out: ApiExport[] = [];
  const walk = (moduleSymbol: ts.Symbol, prefix: string): void => {
    for (const exported of checker.getExportsOfModule(moduleSymbol)) {
      const name = prefix + exported.name;
      const target = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
      const kind = kindOf(target);
      if (kind === undefined)
        throw new Error(`${name}: an export of an unexpected kind (flags ${target.flags})`);
      if (kind === "namespace") {
        const reexport = exported.declarations?.find(ts.isNamespaceExport);
        if (!reexport) throw new Error(`${name}: a namespace export that is not \`export * as\``);
        out.push(describe(name, kind, reexport.parent));
        walk(target, `${name}.`);
        continue;
      }
      // Overloads, and a const with its statement: the first declaration carries the comment.
      const decl = target.declarations?.[0];
      if (!decl) throw new Error(`${name}: no declaration`);
      out.push(describe(name, kind, decl));
    }
  };
  const moduleSymbol = checker.getSymbolAtLocation(program.getSourceFile(entry)!);
  if (!moduleSymbol) throw new Error("src/index.ts is not a module");
  walk(moduleSymbol, "");
  return out;
}

/** The code of an example: its ```ts fenced blocks, or the whole text when it has no fence. */
export function exampleCode(text: string): string[] {
  const fences = [...text.matchAll(/```(?:ts|typescript)?[ \t]*\n([\s\S]*?)```/g)].map((m) => m[1] ?? "");
  return fences.length > 0 ? fences : [text];
}

/** The name an example is reported under: its declaration's, a namespace export's, a `const`'s. */
function ownerName(node: ts.Node, sf: ts.SourceFile): string {
  if (ts.isExportDeclaration(node) && node.exportClause && ts.isNamespaceExport(node.exportClause)) {
    return node.exportClause.name.text;
  }
  if (ts.isVariableStatement(node)) return node.declarationList.declarations[0]?.name.getText(sf) ?? "?";
  if (ts.isSourceFile(node)) return "(module)";
  return ts.getNameOfDeclaration(node as ts.Declaration)?.getText(sf) ?? sf.fileName.slice(root.length + 1);
}

/** Every @example in the program's files under src/, wherever it sits (members of classes included). */
export function allExamples(program: ts.Program): DocExample[] {
  const out: DocExample[] = [];
  const seen = new Set<ts.JSDocTag>();
  const srcDir = join(root, "src");
  for (const sf of program.getSourceFiles()) {
    if (!sf.fileName.startsWith(srcDir)) continue;
    const visit = (node: ts.Node): void => {
      for (const tag of ts.getJSDocTags(node)) {
        if (tag.tagName.text !== "example" || seen.has(tag)) continue;
        seen.add(tag);
        const owner = ownerName(node, sf);
        for (const code of exampleCode(tagText(tag))) out.push({ code, where: location(tag), owner });
      }
      ts.forEachChild(node, visit);
    };
    visit(sf);
  }
  return out;
}

/**
 * Type-checks each example as a module of its own, in the way a user's project would: `import ... from
 * "wireprobe"` resolves to src/index.ts, strict, ES2022 with top-level await. Returns one message per error.
 */
export function typeCheckExamples(examples: readonly DocExample[]): string[] {
  const base = compilerOptions();
  const options: ts.CompilerOptions = {
    ...base,
    module: ts.ModuleKind.ES2022,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    target: ts.ScriptTarget.ES2022,
    noEmit: true,
    declaration: false,
    rootDir: root,
    // An example may name a value only to show it; unused names are no error in a snippet.
    noUnusedLocals: false,
    noUnusedParameters: false,
    baseUrl: root,
    paths: { wireprobe: [entry] },
  };
  const dir = join(root, "test", ".doc-examples");
  const files = new Map(examples.map((e, i) => [join(dir, `example-${i}.ts`), e] as const));
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (fileName, languageVersion, ...rest) => {
    const example = files.get(fileName);
    if (example) return ts.createSourceFile(fileName, example.code, languageVersion, true);
    return getSourceFile(fileName, languageVersion, ...rest);
  };
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (fileName) => files.has(fileName) || fileExists(fileName);
  const readFile = host.readFile.bind(host);
  host.readFile = (fileName) => files.get(fileName)?.code ?? readFile(fileName);
  const program = ts.createProgram([...files.keys()], options, host);
  // Only the examples' own errors: src/ is checked by its build, under its own options.
  const diagnostics = [...files.keys()].flatMap((f) => {
    const sf = program.getSourceFile(f)!;
    return [...program.getSyntacticDiagnostics(sf), ...program.getSemanticDiagnostics(sf)];
  });
  return [...program.getOptionsDiagnostics(), ...diagnostics].map((d) => {
    const text = ts.flattenDiagnosticMessageText(d.messageText, "\n");
    const example = d.file ? files.get(d.file.fileName) : undefined;
    if (!d.file || !example) return `${d.file?.fileName ?? "(options)"}: ${text}`;
    const { line } = d.file.getLineAndCharacterOfPosition(d.start ?? 0);
    const codeLine = example.code.split("\n")[line]?.trim() ?? "";
    return `${example.where} (@example of ${example.owner}), line ${line + 1} of the example: ${text}\n    ${codeLine}`;
  });
}
