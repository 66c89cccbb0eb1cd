// swift-tools-version:6.0
// envpack: pack a conda environment into one archive, unpack and relocate it
// anywhere, and install environments from explicit spec files.
import PackageDescription

let package = Package(
    name: "envpack",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "envpack", targets: ["envpack"]),
        .executable(name: "envpack-unpack", targets: ["envpack-unpack"]),
        .library(name: "Envpack", targets: ["Envpack"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        // Package downloads (SwiftNIO, no libcurl): timeouts and a low-speed limit.
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        // YAML for lock files (conda-lock.yml, pixi.lock).
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
    ],
    targets: [
        // C libraries from Debian's -dev packages, found through pkg-config.
        .systemLibrary(name: "CArchive", pkgConfig: "libarchive",
                       providers: [.apt(["libarchive-dev"])]),
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd",
                       providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "CLZMA", pkgConfig: "liblzma",
                       providers: [.apt(["liblzma-dev"])]),
        .systemLibrary(name: "CElf", pkgConfig: "libelf",
                       providers: [.apt(["libelf-dev"])]),
        // gzip and bzip2 decoding that verifies the streams' CRCs
        // (libarchive's gzip filter does not check the trailer).
        .systemLibrary(name: "CZlib", pkgConfig: "zlib",
                       providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CBzip2", providers: [.apt(["libbz2-dev"])]),
        // sha256 without Foundation, for the extraction module (libarchive links nettle too).
        .systemLibrary(name: "CNettle", pkgConfig: "nettle", providers: [.apt(["nettle-dev"])]),

        // The relocation engine and the manifest format. Foundation-free, so
        // the static unpack helper can carry it and stay small.
        .target(name: "CSupport"),
        .target(name: "EnvpackRelocation", dependencies: ["CElf", "CSupport"]),

        // Reading and safely extracting archives: one module for `envpack
        // unpack`, `envpack install` and the static helper. Foundation-free.
        .target(name: "EnvpackExtract", dependencies: [
            "EnvpackRelocation", "CArchive", "CZstd", "CLZMA", "CZlib", "CBzip2", "CNettle", "CSupport",
        ]),

        // Everything else: the conda model, scanning, archive I/O, packing,
        // installing.
        .target(name: "Envpack", dependencies: [
            "EnvpackRelocation", "EnvpackExtract", "CArchive", "CZstd", "CLZMA", "CZlib", "CBzip2", "CSupport",
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "Yams", package: "Yams"),
        ]),

        // The thin command-line front end.
        .executableTarget(name: "envpack", dependencies: [
            "Envpack", "CSupport",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        // The helper every archive carries as bin/envpack-unpack: built
        // statically (see scripts/build-helper.sh), no Foundation.
        .executableTarget(name: "envpack-unpack", dependencies: ["EnvpackRelocation", "EnvpackExtract", "CSupport"]),

        .testTarget(name: "EnvpackRelocationTests", dependencies: ["EnvpackRelocation"]),
        .testTarget(name: "EnvpackTests", dependencies: ["Envpack", "EnvpackRelocation", "EnvpackExtract"]),
        // The library as an outside client sees it: public API only, no @testable.
        .testTarget(name: "EnvpackAPITests", dependencies: ["Envpack", "EnvpackRelocation"]),
    ]
)
