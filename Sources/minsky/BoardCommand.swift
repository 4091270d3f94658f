import ArgumentParser
import Foundation
import MinskyApp
import MinskyBoard
import MinskyCore

struct BoardCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "board",
        abstract: "Open a live task board in the browser (local web server, 127.0.0.1 only).",
        discussion: """
            Columns by status; drag a card to change its status (a stale drag is refused and the card shown as it
            is now); click a card for its description, acceptance criteria, notes, subtasks, dependencies, tree
            and history. Changes made by anyone (CLI, agents, other boards, sync) appear within a second.
            The printed URL carries a random access token; requests without it, or with a foreign Host or
            Origin, are refused. On PostgreSQL a viewer gets a read-only board. Stop with Ctrl-C.
            """)
    @OptionGroup var global: GlobalOptions
    @Option(name: .long, help: "Port to listen on (default: a free one).") var port: Int?

    func validate() throws {
        if let port { try checkRange(port, 1...65535, option: "--port", json: global.json) }
    }

    func run() async throws {
        let out = Output(json: global.json)
        try await out.reportingErrors {
            let sel = try global.selection()
            let store = try await sel.open()
            let meaning = await Self.meaningSearch(project: sel.project, store: store)
            let server = try BoardServer(
                api: BoardAPI(
                    store: store, meaning: meaning,
                    doneRequires: { (try? currentProject())?.config.doneRequires ?? .criteria }),
                port: UInt16(port ?? 0))
            // Ctrl-C and SIGTERM end the board at once (it holds nothing a transaction needs), even when a
            // shell started it in the background with SIGINT ignored.
            for sig in [SIGINT, SIGTERM] { signal(sig, SIG_DFL) }
            try await server.run(
                feed: { stop, onEvents in
                    try await ChangeFeed.follow(store, selection: sel, since: .now(), stop: stop, onEvents: onEvents)
                },
                onListening: {
                    // Written at once (not through stdout's buffer): whoever reads the pipe gets the URL now.
                    let text =
                        out.json
                        ? JSONValue.object(["url": .string(server.url), "port": .int(Int64(server.port))])
                            .canonicalJSON()
                        : "Minsky board for \(store.location):\n  \(server.url)\n"
                            + "Open it in a browser (the token in the URL is the key). Ctrl-C stops the board."
                    FileHandle.standardOutput.write(Data((text + "\n").utf8))
                })
            await store.close()
        }
    }

    /// Search by meaning when embeddings are configured and the store holds some for the model.
    static func meaningSearch(project: Project?, store: any MinskyStore) async -> BoardAPI.Search? {
        guard let client = try? resolveEmbeddings(project: project),
            let stored = try? await store.embeddingHashes(model: client.model), !stored.isEmpty
        else { return nil }
        return { text, store in try await client.similar(to: text, store: store, k: 50) }
    }
}
