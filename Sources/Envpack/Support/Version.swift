/// envpack's version, shown by --version.
public let envpackVersion = "0.1.0"
