/* sluice-mustache-private.h: Mustache templates, compiled once, rendered
 * many times
 *
 * Private to libsluice (the assemble stage and `sluice check` use it).
 */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/* Partials may nest this deep when rendering (recursion bounded by data). */
#define SLUICE_MUSTACHE_MAX_DEPTH 64
/* Sections may nest this deep in one template. */
#define SLUICE_MUSTACHE_MAX_NESTING 100
/* Sections, blocks and partials together, when rendering: the renderer
 * recurses once for each, so this bounds its stack. */
#define SLUICE_MUSTACHE_MAX_RENDER_NESTING 1000
/* Nodes one render may visit: sections over lists found through outer
 * contexts multiply (n x n x n) while writing almost nothing, and partials
 * that include each other several times fan out, so the output cap alone
 * does not bound the time. 20 million is about a second. */
#define SLUICE_MUSTACHE_MAX_RENDER_STEPS ((guint64) 20000000)
/* A template (or partial) is at most this long, with at most this many
 * tags: a million tags take about 230 MB at the peak to compile. */
#define SLUICE_MUSTACHE_MAX_SOURCE ((gsize) 64 << 20)
#define SLUICE_MUSTACHE_MAX_TAGS 1000000
/* Name warnings reported for one template at most. */
#define SLUICE_MUSTACHE_MAX_WARNINGS 100
/* A rendered text longer than this is an error, not an out-of-memory. */
#define SLUICE_MUSTACHE_DEFAULT_MAX_OUTPUT ((gsize) 64 << 20)
/* A partial file larger than this is refused before it is read. */
#define SLUICE_MUSTACHE_MAX_PARTIAL_BYTES ((gsize) 16 << 20)

typedef enum {
  SLUICE_MUSTACHE_FLAGS_NONE         = 0,
  /* {{name}} escapes & " < > as HTML; {{{name}}} and {{&name}} never do. */
  SLUICE_MUSTACHE_ESCAPE_HTML        = 1 << 0,
  /* {{name}} with a name found nowhere fails the render. Sections and
   * inverted sections on a missing name are simply false. */
  SLUICE_MUSTACHE_STRICT             = 1 << 1,
  /* The spec's leniency: an unknown partial renders as nothing and a
   * partial may include itself (bounded by SLUICE_MUSTACHE_MAX_DEPTH).
   * Without it both are errors when compiling. */
  SLUICE_MUSTACHE_LENIENT_PARTIALS   = 1 << 2,
  /* {{name}} is written as one CSV field (RFC 4180): quoted, with its
   * quotes doubled, when it holds a comma, a quote or a line break.
   * {{{name}}} and {{&name}} never are. */
  SLUICE_MUSTACHE_ESCAPE_CSV         = 1 << 3,
} SluiceMustacheFlags;

/**
 * SluiceMustacheProblem:
 * @file: (nullable): the partial file the problem is in; %NULL for the
 *   template given to sluice_mustache_compile()
 * @offset: byte offset of the problem in that template's text
 * @line: 1-based line in that text
 * @column: 1-based column in that text, in characters
 * @snippet: the text of the tag at fault, as written (to find it again in
 *   a pipeline file that quotes or indents the template)
 * @is_warning: a warning (sluice_mustache_check_names()) or an error
 * @message: what is wrong
 */
typedef struct {
  char     *file;
  gsize     offset;
  guint     line;
  guint     column;
  char     *snippet;
  gboolean  is_warning;
  char     *message;
} SluiceMustacheProblem;

void sluice_mustache_problem_free (SluiceMustacheProblem *problem);

/* The partials of a group of templates (one stage's) and every compiled
 * form of them. Thread-safe. */
typedef struct _SluiceMustacheLibrary SluiceMustacheLibrary;
/* One compiled template; holds a reference to its library. */
typedef struct _SluiceMustache SluiceMustache;

SluiceMustacheLibrary *sluice_mustache_library_new        (SluiceMustacheFlags     flags);
SluiceMustacheLibrary *sluice_mustache_library_ref        (SluiceMustacheLibrary  *lib);
void                   sluice_mustache_library_unref      (SluiceMustacheLibrary  *lib);
/* SLUICE_MUSTACHE_MAX_RENDER_STEPS unless set (tests use a small one) */
void                   sluice_mustache_library_set_max_steps (SluiceMustacheLibrary *lib,
                                                              guint64                max_steps);
void                   sluice_mustache_library_set_max_output (SluiceMustacheLibrary *lib,
                                                           gsize                   max_output);
/* What the templates render ("input" unless set), named in render errors. */
void                   sluice_mustache_library_set_data_name (SluiceMustacheLibrary *lib,
                                                              const char            *data_name);
void                   sluice_mustache_library_add_partial (SluiceMustacheLibrary *lib,
                                                           const char             *name,
                                                           const char             *source,
                                                           const char             *file);
gboolean               sluice_mustache_library_load_partial (SluiceMustacheLibrary *lib,
                                                           const char             *name,
                                                           const char             *path,
                                                           GError                **error);
/* A stage's `partials: {name: file, ...}` (NULL or not an object: none),
 * each file relative to @pipeline's folder. */
gboolean               sluice_mustache_library_load_partials (SluiceMustacheLibrary *lib,
                                                            SluicePipeline        *pipeline,
                                                            JsonNode              *partials,
                                                            GError               **error);

SluiceMustache *sluice_mustache_compile     (SluiceMustacheLibrary  *lib,
                                             const char             *source,
                                             GPtrArray              *problems);
SluiceMustache *sluice_mustache_ref         (SluiceMustache         *self);
void            sluice_mustache_unref       (SluiceMustache         *self);

gboolean        sluice_mustache_render      (SluiceMustache         *self,
                                             JsonNode               *data,
                                             GString                *out,
                                             GError                **error);

void            sluice_mustache_check_names (SluiceMustache         *self,
                                             JsonNode               *schema,
                                             GPtrArray              *problems);
/* The same, saying which of the pipeline's schemas it is ("input",
 * "output") in the warnings. */
void            sluice_mustache_check_names_in (SluiceMustache      *self,
                                                JsonNode            *schema,
                                                const char          *schema_name,
                                                GPtrArray           *problems);

void            sluice_mustache_append_value (GString               *out,
                                              JsonNode              *value);

char           *sluice_mustache_problems_to_message (GPtrArray      *problems,
                                                     const char     *what);

/* `sluice check`'s part: the templates of one stage block, found through
 * the "x-sluice-template" and "x-sluice-partials" annotations of the
 * plugin's configuration schema, compiled with their partials (read
 * relative to base_dir) and checked against data_schema, the pipeline's
 * schema named schema_name ("input", or "output" for a plugin schema
 * that says "x-sluice-template-data": "output"). Strings marked
 * "x-sluice-template-file" name a template file (relative to base_dir),
 * and those marked "x-sluice-field" a dotted name, checked the same way.
 * Problems are appended to diagnostics at their place in the pipeline
 * file or in the partial file. Returns FALSE when there was an error. */
struct _SluiceDocument;
gboolean _sluice_check_stage_templates (struct _SluiceDocument *doc,
                                        GPtrArray              *diagnostics,
                                        const char             *base_dir,
                                        JsonNode               *data_schema,
                                        const char             *schema_name,
                                        JsonNode               *config_schema,
                                        JsonNode               *config,
                                        const char             *pointer);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (SluiceMustache, sluice_mustache_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SluiceMustacheLibrary, sluice_mustache_library_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SluiceMustacheProblem, sluice_mustache_problem_free)

G_END_DECLS
