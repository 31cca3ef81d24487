// oomlint for VS Code: starts `oomlint server` and connects it to Python editors through
// vscode-languageclient. Diagnostics, quick fixes (including `# noqa`), "Fix all" on save via
// `source.fixAll.oomlint`, and hover docs all come from the server.
import * as vscode from "vscode";
import { LanguageClient, LanguageClientOptions, ServerOptions, TransportKind } from "vscode-languageclient/node";

let client: LanguageClient | undefined;

// The settings the server reads (initializationOptions and workspace/didChangeConfiguration).
function serverSettings(): Record<string, unknown> {
  const config = vscode.workspace.getConfiguration("oomlint");
  return {
    select: config.get<string[]>("select", []),
    extendSelect: config.get<string[]>("extendSelect", []),
    ignore: config.get<string[]>("ignore", []),
    unsafeFixes: config.get<boolean>("unsafeFixes", false),
    configuration: config.get<string>("configuration", "") || undefined,
  };
}

async function start(context: vscode.ExtensionContext): Promise<void> {
  const command = vscode.workspace.getConfiguration("oomlint").get<string>("path", "oomlint");
  const serverOptions: ServerOptions = { command, args: ["server"], transport: TransportKind.stdio };
  const clientOptions: LanguageClientOptions = {
    documentSelector: [
      { scheme: "file", language: "python" },
      { scheme: "untitled", language: "python" },
    ],
    initializationOptions: { oomlint: serverSettings() },
    synchronize: {
      configurationSection: "oomlint",
      fileEvents: vscode.workspace.createFileSystemWatcher("**/{pyproject.toml,oomlint.toml,.oomlint.toml}"),
    },
  };
  client = new LanguageClient("oomlint", "oomlint", serverOptions, clientOptions);
  context.subscriptions.push(client);
  try {
    await client.start();
  } catch (err) {
    void vscode.window.showErrorMessage(
      `oomlint: could not start \`${command} server\` (${String(err)}). Set "oomlint.path" to the oomlint binary.`,
    );
  }
}

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  context.subscriptions.push(
    vscode.commands.registerCommand("oomlint.restart", async () => {
      await client?.stop();
      await start(context);
    }),
    vscode.workspace.onDidChangeConfiguration(async (e) => {
      // A new binary needs a new process; other settings reach the running server.
      if (e.affectsConfiguration("oomlint.path")) {
        await client?.stop();
        await start(context);
      }
    }),
  );
  await start(context);
}

export async function deactivate(): Promise<void> {
  await client?.stop();
}
