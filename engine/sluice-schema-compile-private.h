/* sluice-schema-compile-private.h — what the two halves of schema
 * compilation share: sluice-schema-compile.c (keywords, identifiers, one
 * subschema at a time) and sluice-schema-resolve.c (documents, dialects,
 * references, loops, sluice_schema_new_full()); never installed.
 */
#pragma once

#include "sluice-schema-node-private.h"

G_BEGIN_DECLS

enum {
  VOC_CORE              = 1 << 0,
  VOC_APPLICATOR        = 1 << 1,
  VOC_UNEVALUATED       = 1 << 2,
  VOC_VALIDATION        = 1 << 3,
  VOC_META_DATA         = 1 << 4,
  VOC_FORMAT_ANNOTATION = 1 << 5,
  VOC_FORMAT_ASSERTION  = 1 << 6,
  VOC_CONTENT           = 1 << 7,
};
#define VOC_DEFAULT (VOC_CORE | VOC_APPLICATOR | VOC_UNEVALUATED | VOC_VALIDATION | VOC_META_DATA | \
                     VOC_FORMAT_ANNOTATION | VOC_CONTENT)

typedef struct {
  guint8  draft;         /* SluiceSchemaDraft */
  guint16 vocabularies;  /* VOC_*, 2020-12 only */
} Dialect;

typedef struct {
  JsonNode *root;
  char     *uri;         /* where it was retrieved from (or the caller's base URI) */
  char     *key_prefix;  /* "" for the first document, else "URI#": prefixes node paths */
} Doc;

/* A place a URI names: a resource or an anchor. */
typedef struct {
  Doc            *doc;
  char           *pointer;
  SchemaResource *resource;
  Dialect         dialect;
} Loc;

typedef struct {
  SchemaNode *node;
  char       *location;  /* path of the keyword, for errors */
  char       *text;      /* the reference as written */
  char       *base;      /* the base URI it resolves against */
  gboolean    dynamic;
} PendingRef;

typedef struct {
  SluiceSchema         *schema;
  SluiceSchemaRegistry *registry;
  SluiceSchemaFlags     flags;
  Dialect               default_dialect;
  GPtrArray            *docs;     /* Doc* */
  GHashTable           *uris;     /* absolute URI ("…#anchor" for anchors) → Loc* */
  GArray               *pending;  /* PendingRef */
  GError               *error;
} Compiler;

G_GNUC_INTERNAL gboolean        schema_compile_fail     (Compiler       *cc,
                                                         const char     *location,
                                                         const char     *format,
                                                         ...) G_GNUC_PRINTF (3, 4);
G_GNUC_INTERNAL gboolean        schema_holds_string     (JsonNode       *node);
G_GNUC_INTERNAL char           *schema_resolve_uri      (const char     *base,
                                                         const char     *reference);
G_GNUC_INTERNAL void            schema_register_uri     (Compiler       *cc,
                                                         const char     *uri,
                                                         Doc            *doc,
                                                         const char     *pointer,
                                                         SchemaResource *resource,
                                                         Dialect         dialect);
G_GNUC_INTERNAL SchemaResource *schema_new_resource     (Compiler       *cc,
                                                         const char     *uri);
G_GNUC_INTERNAL gboolean        schema_dialect_from_uri (Compiler       *cc,
                                                         const char     *location,
                                                         const char     *schema_uri,
                                                         Dialect        *out,
                                                         guint           chain);
G_GNUC_INTERNAL char           *schema_node_key         (Doc            *doc,
                                                         const char     *pointer);
G_GNUC_INTERNAL SchemaNode     *schema_compile_node     (Compiler       *cc,
                                                         Doc            *doc,
                                                         JsonNode       *json,
                                                         const char     *pointer,
                                                         SchemaResource *resource,
                                                         Dialect         dialect,
                                                         guint           depth);

G_END_DECLS
