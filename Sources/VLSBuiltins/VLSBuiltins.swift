import VLSCore
import VLSLanguage
/// Builtins: the tables that bind the core into the language.
public enum VLSBuiltinsInfo {}
