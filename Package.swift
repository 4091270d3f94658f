// swift-tools-version:6.0
import PackageDescription

// Dependencies are kept to the measured minimum (see README "Dependencies"):
// GRDB for SQLite, libpq (system library) for PostgreSQL, swift-argument-parser, swift-log.
let package = Package(
    name: "minsky",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "minsky", targets: ["minsky"]),
        .executable(name: "minsky-bench", targets: ["minsky-bench"]),
        .library(name: "MinskyCore", targets: ["MinskyCore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/groue/GRDB.swift", exact: "7.10.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", exact: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", exact: "1.16.2"),
        // The board's HTTP and WebSocket server (README "Dependencies": 21 s clean build here
        // against 137 s for hummingbird 2, which brings SwiftNIO).
        .package(url: "https://github.com/swhitty/FlyingFox", exact: "0.27.1"),
    ],
    targets: [
        // The commit a release binary was built from (scripts/release defines MINSKY_COMMIT).
        .target(name: "CBuildInfo"),
        // Domain: models, TaskStore contract, rules, errors. No database, HTTP or MCP code.
        .target(name: "MinskyCore", dependencies: ["CBuildInfo"]),
        // The schema and queries written once, rendered per SQL dialect. No driver code.
        .target(name: "MinskySQL", dependencies: ["MinskyCore"]),
        .systemLibrary(
            name: "CLibPQ",
            pkgConfig: "libpq",
            providers: [.apt(["libpq-dev"]), .brew(["libpq"])]
        ),
        .target(
            name: "MinskySQLite",
            dependencies: [
                "MinskyCore", "MinskySQL",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        .target(
            name: "MinskyPostgres",
            dependencies: [
                "MinskyCore", "MinskySQL", "CLibPQ",
                .product(name: "Logging", package: "swift-log"),
            ]),
        // The MCP server: our own JSON-RPC layer, one file per tool.
        .target(
            name: "MinskyMCP",
            dependencies: [
                "MinskyCore", "MinskyAI",
                .product(name: "Logging", package: "swift-log"),
            ]),
        // Wiring shared by the executables: project discovery, config, opening a store by URL.
        .target(
            name: "MinskyApp",
            dependencies: [
                "MinskyCore", "MinskySQLite", "MinskyPostgres",
                .product(name: "Logging", package: "swift-log"),
            ]),
        // `minsky board`: the local web board (page, JSON API, live WebSocket) on FlyingFox.
        .target(
            name: "MinskyBoard",
            dependencies: ["MinskyCore", .product(name: "FlyingFox", package: "FlyingFox")],
            resources: [
                .embedInCode("Resources/board.html"), .embedInCode("Resources/board.css"),
                .embedInCode("Resources/board.js"),
            ]),
        // `minsky serve`: MCP over Streamable HTTP (both eras) with bearer tokens, on FlyingFox.
        .target(
            name: "MinskyServe",
            dependencies: [
                "MinskyCore", "MinskyMCP", "MinskyBoard", .product(name: "FlyingFox", package: "FlyingFox"),
            ]),
        // libcurl, which FoundationNetworking already links: called directly for model requests,
        // because URLSession on Linux polls a core while it waits on a slow answer (measured).
        .systemLibrary(
            name: "CLibCurl",
            pkgConfig: "libcurl",
            providers: [.apt(["libcurl4-openssl-dev"]), .brew(["curl"])]
        ),
        // LLM providers (HTTP through libcurl) and the AI features built on them.
        .target(name: "MinskyAI", dependencies: ["MinskyCore", "CLibCurl"]),
        // Backup, upgrade to PostgreSQL, rollback: moving a store without losing a byte.
        .target(
            name: "MinskyUpgrade",
            dependencies: [
                "MinskyCore", "MinskySQL", "MinskySQLite", "MinskyPostgres", "MinskyApp",
                .product(name: "GRDB", package: "GRDB.swift"),
            ]),
        .executableTarget(
            name: "minsky",
            dependencies: [
                "MinskyCore", "MinskyApp", "MinskyMCP", "MinskyUpgrade", "MinskyAI", "MinskyPostgres", "MinskySQL",
                "MinskyBoard", "MinskyServe",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        .executableTarget(
            name: "minsky-bench",
            dependencies: [
                "MinskyCore", "MinskyApp", "MinskyUpgrade", "MinskyAI", "MinskyTestSupport",
            ]),
        // Helpers for tests: temporary stores on both backends, process runner.
        .target(
            name: "MinskyTestSupport",
            dependencies: [
                "MinskyCore", "MinskyApp", "MinskySQLite", "MinskyPostgres",
            ]),
        .testTarget(name: "MinskyCoreTests", dependencies: ["MinskyCore"]),
        .testTarget(
            name: "MinskyConformanceTests",
            dependencies: [
                "MinskyCore", "MinskyTestSupport", "MinskySQL", "MinskySQLite", "MinskyPostgres",
                .product(name: "GRDB", package: "GRDB.swift"), .product(name: "Logging", package: "swift-log"),
            ]),
        .testTarget(
            name: "MinskyCLITests", dependencies: ["MinskyCore", "MinskyApp", "MinskyPostgres", "MinskyTestSupport"]),
        .testTarget(
            name: "MinskyUpgradeTests",
            dependencies: [
                "MinskyCore", "MinskySQL", "MinskySQLite", "MinskyPostgres", "MinskyUpgrade", "MinskyApp",
                "MinskyTestSupport",
                .product(name: "GRDB", package: "GRDB.swift"),
            ]),
        .testTarget(name: "MinskyAITests", dependencies: ["MinskyCore", "MinskyAI", "MinskyTestSupport"]),
        .testTarget(
            name: "MinskyMCPTests",
            dependencies: ["MinskyCore", "MinskyMCP", "MinskyApp", "MinskyPostgres", "MinskyTestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)
