// Starts survae-lsp (a stdio language server) for .survae files. The command is the setting
// survae.server.command, by default `survae-lsp` from the PATH (pip install 'survae-dsl[lsp]').
"use strict";

const vscode = require("vscode");
const { LanguageClient, TransportKind } = require("vscode-languageclient/node");

let client;

function activate(context) {
  const settings = vscode.workspace.getConfiguration("survae");
  const [command, ...args] = settings.get("server.command", ["survae-lsp"]);
  const server = { command, args, transport: TransportKind.stdio };
  client = new LanguageClient(
    "survae",
    "SurVAE language server",
    { run: server, debug: server },
    {
      documentSelector: [{ scheme: "file", language: "survae" }, { scheme: "untitled", language: "survae" }],
      initializationOptions: { inlayHints: settings.get("inlayHints", false) },
    },
  );
  context.subscriptions.push(client);
  return client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
