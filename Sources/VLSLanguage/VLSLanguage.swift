/// The vls language: lexer, parser, resolver, interpreter. Knows nothing of ViTs.
public enum VLSLanguageInfo {}
