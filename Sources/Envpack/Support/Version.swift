/// envpack's version, shown by --version.
public let envpackVersion = "0.2.0"
