/* sluice-document-private.h: a pipeline file as a JSON tree that remembers where
 * every node came from
 *
 * Private to libsluice.
 */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

#include "sluice-diagnostic-private.h"

G_BEGIN_DECLS

/**
 * SluiceDocument:
 *
 * A YAML or JSON file parsed into a json-glib tree, with the source
 * position (1-based line and column) of every node and of every object
 * member's key. Reference counted; the document owns the tree.
 *
 * Loading rules, in short:
 *
 * - one document per file; plain scalars typed like the YAML 1.2 core
 *   schema (`yes`/`no`/`on`/`off` stay strings); quoted and block scalars
 *   are strings;
 * - anchors, aliases and `<<` merge keys work; alias expansion is capped at
 *   %SLUICE_DOCUMENT_MAX_ALIAS_NODES nodes (further aliases become null);
 *   nesting is capped at %SLUICE_DOCUMENT_MAX_DEPTH levels (deeper in the
 *   file is fatal, like a syntax error; an alias that would go deeper
 *   becomes null);
 * - `${VAR}`, `${VAR:-default}` and `$$` are expanded in scalar values (not
 *   in keys); a plain scalar made only of references is typed after
 *   expansion, so `${N:-4}` is the integer 4. Nodes whose value came from
 *   the environment are marked (sluice_document_node_is_from_env()) and no
 *   diagnostic ever quotes an expanded value.
 */
typedef struct _SluiceDocument SluiceDocument;

/* Deepest nesting of collections accepted, aliases included. */
/* A pipeline file larger than this is refused before it is read. */
#define SLUICE_DOCUMENT_MAX_BYTES (64 << 20)
#define SLUICE_DOCUMENT_MAX_DEPTH 256
/* Most nodes that aliases and merge keys may copy in one file. Nodes
 * written out in the file are bounded by its size; copies are what an
 * alias bomb multiplies, so they are what is capped. */
#define SLUICE_DOCUMENT_MAX_ALIAS_NODES 1000000
/* After this many diagnostics one more says the rest were left out. */
#define SLUICE_DOCUMENT_MAX_DIAGNOSTICS 100

SluiceDocument *sluice_document_load_file          (const char     *path,
                                                    GPtrArray      *diagnostics);
SluiceDocument *sluice_document_load_data          (const char     *data,
                                                    gssize          length,
                                                    const char     *filename,
                                                    GPtrArray      *diagnostics);
SluiceDocument *sluice_document_ref                (SluiceDocument *doc);
void            sluice_document_unref              (SluiceDocument *doc);

JsonNode       *sluice_document_get_root           (SluiceDocument *doc);
const char     *sluice_document_get_filename       (SluiceDocument *doc);

gboolean        sluice_document_locate             (SluiceDocument *doc,
                                                    const char     *pointer,
                                                    guint          *line,
                                                    guint          *column);
void            sluice_document_report             (SluiceDocument *doc,
                                                    GPtrArray      *diagnostics,
                                                    const char     *pointer,
                                                    const char     *format,
                                                    ...) G_GNUC_PRINTF (4, 5);
gboolean        sluice_document_get_node_position  (SluiceDocument *doc,
                                                    JsonNode       *node,
                                                    guint          *line,
                                                    guint          *column);
gboolean        sluice_document_get_member_position (SluiceDocument *doc,
                                                    JsonObject     *object,
                                                    const char     *member_name,
                                                    guint          *line,
                                                    guint          *column);
gboolean        sluice_document_node_is_from_env   (SluiceDocument *doc,
                                                    JsonNode       *node);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (SluiceDocument, sluice_document_unref)

G_END_DECLS
