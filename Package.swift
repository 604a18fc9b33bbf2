// swift-tools-version:6.0
// vls: a notebook-style scripting REPL for reading Vision Transformers in
// class-embedding space. Layers (data flows down, never up):
//   C libraries -> Core / Imaging -> Language -> Builtins -> Tool.
import PackageDescription

// Release keeps Swift's bounds and overflow checks (-O; the unchecked optimisation mode is
// never used: a missed validation must trap, not read past a buffer). The fuzz build
// (Scripts/fuzz) uses these flags; ToolTests.testReleaseFlagsKeepChecks holds them.
let optimize: [SwiftSetting] = [.unsafeFlags(["-O", "-wmo"], .when(configuration: .release))]
// The interpreter alone also drops the run-time exclusivity checks (not the bounds or overflow
// checks): its frames and closures are classes read on every step, and swift_beginAccess was a
// third of a loop's time (perf, loop-1e6: 17 ms without checks, 35 ms with -O, see the harden report).
let interpreterOptimize: [SwiftSetting] = [.unsafeFlags(["-O", "-wmo", "-enforce-exclusivity=unchecked"], .when(configuration: .release))]

let package = Package(
    name: "vls",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "vls", targets: ["vls"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", exact: "1.8.2"),
    ],
    targets: [
        // MARK: C libraries (Debian -dev packages, see Scripts/setup)
        .systemLibrary(name: "CBLAS", path: "Sources/CBLAS"),
        .systemLibrary(name: "CReadline", path: "Sources/CReadline"),
        .systemLibrary(name: "CZlib", path: "Sources/CZlib"),
        // The Jupyter kernel: ZeroMQ sockets and HMAC-SHA256 signatures (libzmq3-dev, libssl-dev).
        // OpenSSL rather than apple/swift-crypto: swift-crypto compiles its own BoringSSL, which
        // alone took 82 s (71 s CPU) of a clean release build here; the system libcrypto adds ~1 s.
        .systemLibrary(name: "CZMQ", path: "Sources/CZMQ"),
        .systemLibrary(name: "CLibCrypto", path: "Sources/CLibCrypto"),
        // Figures: cairo's image (PNG) and SVG surfaces, antialiased text (libcairo2-dev, fonts-dejavu-core).
        .systemLibrary(name: "CCairo", path: "Sources/CCairo", pkgConfig: "cairo", providers: [.apt(["libcairo2-dev"])]),
        // libpng / libjpeg-turbo behind a setjmp shim: a corrupt image is an error value.
        .target(
            name: "CImageShim",
            path: "Sources/CImageShim",
            linkerSettings: [.linkedLibrary("png16"), .linkedLibrary("jpeg"), .linkedLibrary("z")]
        ),

        // MARK: Files (the one atomic writer every layer uses)
        .target(name: "VLSFiles", swiftSettings: optimize),

        // MARK: Core (no language code)
        .target(name: "VLSImaging", dependencies: ["CImageShim", "CZlib", "CCairo", "VLSFiles"], swiftSettings: optimize),
        .target(name: "VLSCore", dependencies: ["CBLAS", "CLibCrypto", "VLSImaging", "VLSFiles"], swiftSettings: optimize),

        // MARK: Language (knows nothing of ViTs)
        .target(name: "VLSLanguage", dependencies: ["VLSFiles"], swiftSettings: interpreterOptimize),

        // MARK: Builtins (binds the core into the language)
        .target(
            name: "VLSBuiltins",
            dependencies: ["VLSCore", "VLSImaging", "VLSLanguage", "VLSFiles"],
            swiftSettings: optimize
        ),

        // MARK: Tool
        .executableTarget(
            name: "vls",
            dependencies: [
                "VLSBuiltins", "VLSLanguage", "VLSCore", "VLSImaging", "VLSFiles", "CReadline", "CZMQ", "CLibCrypto",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: optimize
        ),

        // MARK: Tests
        // Fixtures live in Tests/Fixtures (found through #filePath), language cases in
        // Tests/VLSLanguageTests/Cases.
        .testTarget(name: "VLSCoreTests", dependencies: ["VLSCore"]),
        .testTarget(name: "VLSImagingTests", dependencies: ["VLSImaging"]),
        .testTarget(name: "VLSLanguageTests", dependencies: ["VLSLanguage"], exclude: ["Cases"]),
        .testTarget(name: "VLSToolTests", dependencies: ["VLSBuiltins", "VLSLanguage", "VLSCore", "VLSFiles", "VLSImaging"], exclude: ["Cases", "Parity"]),
    ],
    // Swift 5 mode: the numerical core shares raw buffers across worker threads by design.
    swiftLanguageModes: [.v5]
)
