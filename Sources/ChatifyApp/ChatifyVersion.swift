/// The version `chatify --version` prints.
public enum ChatifyVersion {
    public static let current = "0.9.0"
}
