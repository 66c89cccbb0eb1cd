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
        .systemLibrary(name: "CZlib", pkgConfig: "zlib",
                       providers: [.apt(["zlib1g-dev"])]),

        // The relocation engine and the manifest format. Foundation-free, so
        // the static unpack helper can carry it and stay small.
        .target(name: "CSupport"),
        .target(name: "EnvpackRelocation", dependencies: ["CElf", "CSupport"]),

        // Everything else: the conda model, scanning, archive I/O, packing,
        // installing.
        .target(name: "Envpack", dependencies: [
            "EnvpackRelocation", "CArchive", "CZstd", "CLZMA", "CZlib", "CSupport",
            .product(name: "Crypto", package: "swift-crypto"),
        ]),

        // The thin command-line front end.
        .executableTarget(name: "envpack", dependencies: [
            "Envpack",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        // The helper every archive carries as bin/envpack-unpack: built
        // statically (see scripts/build-helper.sh), no Foundation.
        .executableTarget(name: "envpack-unpack", dependencies: ["EnvpackRelocation"]),

        .testTarget(name: "EnvpackRelocationTests", dependencies: ["EnvpackRelocation"]),
        .testTarget(name: "EnvpackTests", dependencies: ["Envpack", "EnvpackRelocation"]),
    ]
)
