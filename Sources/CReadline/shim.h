#ifndef VLS_CREADLINE_SHIM_H
#define VLS_CREADLINE_SHIM_H
#include <stdio.h>
#include <readline/readline.h>
#include <readline/history.h>

/* Accessors for readline's global variables: Swift 6 forbids touching mutable C globals
   directly, so the REPL goes through these. */
static inline void vls_rl_setup(const char *name, const char *word_breaks, rl_completion_func_t *complete) {
    rl_catch_signals = 0;
    rl_completer_quote_characters = NULL;
    rl_basic_quote_characters = "";
    rl_readline_name = name;
    rl_completer_word_break_characters = (char *)word_breaks;
    rl_attempted_completion_function = complete;
    /* A pasted block arrives as one entry, blank lines inside an indented body included
       (readline 8.1+ turns this on by default; an inputrc read later still decides). */
    rl_variable_bind("enable-bracketed-paste", "on");
}

static inline void vls_rl_completion_options(void) {
    rl_attempted_completion_over = 1;
    rl_completion_append_character = 0;
    rl_completion_suppress_quote = 1;
    rl_completion_suppress_append = 1;
    rl_filename_completion_desired = 0;
    rl_filename_quoting_desired = 0;
}

/* The REPL's own input source: bytes read ahead (type-ahead kept by a terminal query)
   come first, and readline asks the hook whether more input is waiting. */
static inline void vls_rl_set_input(rl_getc_func_t *getc_fn, rl_hook_func_t *available) {
    rl_getc_function = getc_fn;
    rl_input_available_hook = available;
}

static inline const char *vls_rl_line_buffer(void) { return rl_line_buffer; }

static inline void vls_rl_write_output(const char *text) {
    FILE *out = rl_outstream ? rl_outstream : stdout;
    fputs(text, out);
    fflush(out);
}
#endif
