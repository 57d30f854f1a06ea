/* sluice-schema-resolve.c — documents, dialects and references
 *
 * Each document (the schema itself, then every registry document a `$ref`
 * reaches) is compiled whole by sluice-schema-compile.c, which records
 * every schema resource and anchor under its absolute URI.  References are
 * linked after the walk, so they find their targets wherever they are; a
 * reference to a location the walk did not reach (a JSON Pointer into an
 * unknown keyword) compiles that location on demand.  Then every cycle of
 * in-place applicators (a loop that would not descend into the value) is
 * refused.
 *
 * The dialect comes from the document's `$schema` (or an embedded
 * resource's), else from the caller.
 */
#define G_LOG_DOMAIN "sluice-schema"

#include "sluice-schema-compile-private.h"
#include "sluice.h"

#include <string.h>

/* The base URI of a document that has neither `$id` nor a URI from the
 * caller: relative references then resolve to something readable. */
#define DEFAULT_BASE_URI "sluice:/schema.json"
/* How many custom metaschemas a `$schema` chain may pass through. */
#define MAX_METASCHEMA_CHAIN 8

static const struct {
  const char *uri;
  guint       bit;
} vocabularies[] = {
  { "https://json-schema.org/draft/2020-12/vocab/core", VOC_CORE },
  { "https://json-schema.org/draft/2020-12/vocab/applicator", VOC_APPLICATOR },
  { "https://json-schema.org/draft/2020-12/vocab/unevaluated", VOC_UNEVALUATED },
  { "https://json-schema.org/draft/2020-12/vocab/validation", VOC_VALIDATION },
  { "https://json-schema.org/draft/2020-12/vocab/meta-data", VOC_META_DATA },
  { "https://json-schema.org/draft/2020-12/vocab/format-annotation", VOC_FORMAT_ANNOTATION },
  { "https://json-schema.org/draft/2020-12/vocab/format-assertion", VOC_FORMAT_ASSERTION },
  { "https://json-schema.org/draft/2020-12/vocab/content", VOC_CONTENT },
};

static void
doc_free (gpointer data)
{
  Doc *doc = data;

  json_node_unref (doc->root);
  g_free (doc->uri);
  g_free (doc->key_prefix);
  g_free (doc);
}

static void
loc_free (gpointer data)
{
  Loc *loc = data;

  g_free (loc->pointer);
  g_free (loc);
}

static void
pending_ref_clear (gpointer data)
{
  PendingRef *pr = data;

  g_free (pr->location);
  g_free (pr->text);
  g_free (pr->base);
}

gboolean
schema_compile_fail (Compiler   *cc,
                     const char *location,
                     const char *format,
                     ...)
{
  g_autofree char *message = NULL;
  va_list args;

  if (cc->error != NULL)
    return FALSE;
  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  g_set_error (&cc->error, SLUICE_SCHEMA_ERROR, SLUICE_SCHEMA_ERROR_INVALID,
               "%s: %s", location[0] != '\0' ? location : "/", message);
  return FALSE;
}

gboolean
schema_holds_string (JsonNode *node)
{
  return node != NULL && JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_STRING;
}

/* Resolves a reference (without fragment) against a base URI; NULL if
 * either is malformed.  Percent-encoding is kept as written. */
char *
schema_resolve_uri (const char *base,
                    const char *reference)
{
  if (reference[0] == '\0')
    return g_strdup (base);
  return g_uri_resolve_relative (base, reference, G_URI_FLAGS_ENCODED, NULL);
}

void
schema_register_uri (Compiler       *cc,
                     const char     *uri,
                     Doc            *doc,
                     const char     *pointer,
                     SchemaResource *resource,
                     Dialect         dialect)
{
  Loc *loc;

  /* the first registration wins: a duplicate `$id` is the schema's error,
   * and the spec leaves its meaning open */
  if (g_hash_table_contains (cc->uris, uri))
    return;
  loc = g_new0 (Loc, 1);
  loc->doc = doc;
  loc->pointer = g_strdup (pointer);
  loc->resource = resource;
  loc->dialect = dialect;
  g_hash_table_insert (cc->uris, g_strdup (uri), loc);
}

SchemaResource *
schema_new_resource (Compiler   *cc,
                     const char *uri)
{
  SchemaResource *r = g_new0 (SchemaResource, 1);

  r->uri = g_strdup (uri);
  g_ptr_array_add (cc->schema->resources, r);
  return r;
}

static const char *
strip_empty_fragment (const char *uri,
                      char      **tmp)
{
  gsize len = strlen (uri);

  if (len > 0 && uri[len - 1] == '#')
    return *tmp = g_strndup (uri, len - 1);
  return uri;
}

/* The dialect a `$schema` URI names.  Custom metaschemas come from the
 * registry: their `$vocabulary` says which keywords are on. */
gboolean
schema_dialect_from_uri (Compiler   *cc,
                         const char *location,
                         const char *schema_uri,
                         Dialect    *out,
                         guint       chain)
{
  g_autofree char *tmp = NULL;
  g_autoptr(JsonNode) meta = NULL;
  g_autoptr(GError) local_error = NULL;
  const char *uri = strip_empty_fragment (schema_uri, &tmp);
  JsonNode *vocab;

  if (strcmp (uri, "https://json-schema.org/draft/2020-12/schema") == 0)
    {
      *out = (Dialect) { SLUICE_SCHEMA_DRAFT_2020_12, VOC_DEFAULT };
      return TRUE;
    }
  if (strcmp (uri, "http://json-schema.org/draft-07/schema") == 0 ||
      strcmp (uri, "https://json-schema.org/draft-07/schema") == 0)
    {
      *out = (Dialect) { SLUICE_SCHEMA_DRAFT_7, 0 };
      return TRUE;
    }
  if (g_str_has_prefix (uri, "http://json-schema.org/") || g_str_has_prefix (uri, "https://json-schema.org/"))
    return schema_compile_fail (cc, location, "dialect '%s' is not supported (only draft 2020-12 and draft 7 are)",
                         schema_uri);

  if (cc->registry != NULL)
    meta = sluice_schema_registry_lookup (cc->registry, uri, &local_error);
  if (local_error != NULL)
    return schema_compile_fail (cc, location, "%s", local_error->message);
  if (meta == NULL || !JSON_NODE_HOLDS_OBJECT (meta))
    return schema_compile_fail (cc, location, "'$schema' names an unknown dialect '%s' (no such metaschema is registered)",
                         schema_uri);

  vocab = json_object_get_member (json_node_get_object (meta), "$vocabulary");
  if (vocab != NULL && JSON_NODE_HOLDS_OBJECT (vocab))
    {
      JsonObjectIter iter;
      const char *name;
      JsonNode *required;

      *out = (Dialect) { SLUICE_SCHEMA_DRAFT_2020_12, VOC_CORE };
      json_object_iter_init (&iter, json_node_get_object (vocab));
      while (json_object_iter_next (&iter, &name, &required))
        {
          guint v;

          for (v = 0; v < G_N_ELEMENTS (vocabularies); v++)
            if (strcmp (vocabularies[v].uri, name) == 0)
              break;
          if (v < G_N_ELEMENTS (vocabularies))
            out->vocabularies |= vocabularies[v].bit;
          else if (JSON_NODE_HOLDS_VALUE (required) && json_node_get_value_type (required) == G_TYPE_BOOLEAN &&
                   json_node_get_boolean (required))
            return schema_compile_fail (cc, location, "the metaschema '%s' requires the vocabulary '%s', which is not supported",
                                 schema_uri, name);
        }
      return TRUE;
    }

  /* no vocabularies of its own: the dialect of its own metaschema */
  {
    JsonNode *parent = json_object_get_member (json_node_get_object (meta), "$schema");

    if (!schema_holds_string (parent) || chain >= MAX_METASCHEMA_CHAIN ||
        strcmp (json_node_get_string (parent), schema_uri) == 0)
      return schema_compile_fail (cc, location, "the metaschema '%s' names no dialect", schema_uri);
    return schema_dialect_from_uri (cc, location, json_node_get_string (parent), out, chain + 1);
  }
}

/* ------------------------------------------------------------------------ */
/* Documents and references                                                  */

static Doc *
add_document (Compiler   *cc,
              JsonNode   *json,
              const char *uri)
{
  Doc *doc = g_new0 (Doc, 1);
  Dialect dialect = cc->default_dialect;
  g_autofree char *root_uri = NULL;
  SchemaResource *resource;

  doc->root = json_node_ref (json);
  doc->uri = g_strdup (uri);
  doc->key_prefix = cc->docs->len == 0 ? g_strdup ("") : g_strconcat (uri, "#", NULL);
  g_ptr_array_add (cc->docs, doc);

  root_uri = g_strdup (uri);
  if (JSON_NODE_HOLDS_OBJECT (json))
    {
      JsonObject *object = json_node_get_object (json);
      JsonNode *schema = json_object_get_member (object, "$schema");
      JsonNode *id = json_object_get_member (object, "$id");

      if (schema != NULL)
        {
          g_autofree char *loc = g_strconcat (doc->key_prefix, "/$schema", NULL);

          if (!schema_holds_string (schema))
            return schema_compile_fail (cc, loc, "'$schema' must be a string"), NULL;
          if (!schema_dialect_from_uri (cc, loc, json_node_get_string (schema), &dialect, 0))
            return NULL;
        }
      if (id != NULL && !(dialect.draft == SLUICE_SCHEMA_DRAFT_7 && json_object_has_member (object, "$ref")))
        {
          g_autofree char *loc = g_strconcat (doc->key_prefix, "/$id", NULL);
          const char *hash;

          if (!schema_holds_string (id))
            return schema_compile_fail (cc, loc, "'$id' must be a string"), NULL;
          hash = strchr (json_node_get_string (id), '#');
          if (hash != NULL && hash[1] != '\0' && dialect.draft != SLUICE_SCHEMA_DRAFT_7)
            return schema_compile_fail (cc, loc, "'$id' must not have a fragment ('%s'); use '$anchor' for a name",
                                 json_node_get_string (id)), NULL;
        }
      if (schema_holds_string (id) &&
          !(dialect.draft == SLUICE_SCHEMA_DRAFT_7 && json_object_has_member (object, "$ref")) &&
          json_node_get_string (id)[0] != '#')
        {
          const char *text = json_node_get_string (id);
          const char *hash = strchr (text, '#');
          g_autofree char *base_part = hash != NULL ? g_strndup (text, (gsize) (hash - text)) : g_strdup (text);
          g_autofree char *loc = g_strconcat (doc->key_prefix, "/$id", NULL);

          g_free (root_uri);
          root_uri = schema_resolve_uri (uri, base_part);
          if (root_uri == NULL)
            return schema_compile_fail (cc, loc, "'$id' ('%s') is not a valid URI reference", text), NULL;
        }
    }

  resource = schema_new_resource (cc, root_uri);
  schema_register_uri (cc, uri, doc, "", resource, dialect);
  schema_register_uri (cc, root_uri, doc, "", resource, dialect);
  if (schema_compile_node (cc, doc, json, "", resource, dialect, 0) == NULL)
    return NULL;

  /* draft 7's root `$id` with a fragment names the root too */
  if (dialect.draft == SLUICE_SCHEMA_DRAFT_7 && JSON_NODE_HOLDS_OBJECT (json))
    {
      JsonNode *id = json_object_get_member (json_node_get_object (json), "$id");
      const char *hash = schema_holds_string (id) ? strchr (json_node_get_string (id), '#') : NULL;

      if (hash != NULL && hash[1] != '\0')
        {
          g_autofree char *anchor = g_strconcat (root_uri, hash, NULL);

          schema_register_uri (cc, anchor, doc, "", resource, dialect);
        }
    }
  return doc;
}

/* The node at @pointer inside @loc's document, compiled now if the walk
 * did not reach it (a pointer into an unknown keyword). */
static SchemaNode *
node_at (Compiler   *cc,
         const Loc  *loc,
         const char *pointer,
         const char *location,
         const char *text)
{
  g_autofree char *key = schema_node_key (loc->doc, pointer);
  SchemaNode *target = g_hash_table_lookup (cc->schema->by_path, key);
  JsonNode *json;

  if (target != NULL)
    return target;
  json = sluice_json_pointer_resolve (loc->doc->root, pointer);
  if (json == NULL)
    {
      schema_compile_fail (cc, location, "'%s' target '%s' does not exist",
                    strstr (location, "$dynamicRef") != NULL ? "$dynamicRef" : "$ref", text);
      return NULL;
    }
  return schema_compile_node (cc, loc->doc, json, pointer, loc->resource, loc->dialect, 1);
}

static gboolean
link_ref (Compiler   *cc,
          PendingRef *pr_in)
{
  /* copies: compiling a remote document can move the pending array */
  SchemaNode *node = pr_in->node;
  g_autofree char *location = g_strdup (pr_in->location);
  g_autofree char *text = g_strdup (pr_in->text);
  g_autofree char *base = g_strdup (pr_in->base);
  gboolean dynamic = pr_in->dynamic;
  const char *keyword = dynamic ? "$dynamicRef" : "$ref";
  const char *hash = strchr (text, '#');
  const char *fragment = hash != NULL ? hash + 1 : "";
  g_autofree char *reference = hash != NULL ? g_strndup (text, (gsize) (hash - text)) : g_strdup (text);
  g_autofree char *uri = schema_resolve_uri (base, reference);
  Loc *loc;
  SchemaNode *target;

  if (uri == NULL)
    return schema_compile_fail (cc, location, "'%s' value '%s' is not a valid URI reference", keyword, text);

  loc = g_hash_table_lookup (cc->uris, uri);
  if (loc == NULL && cc->registry != NULL)
    {
      g_autoptr(GError) local_error = NULL;
      g_autoptr(JsonNode) document = sluice_schema_registry_lookup (cc->registry, uri, &local_error);

      if (local_error != NULL)
        return schema_compile_fail (cc, location, "%s", local_error->message);
      if (document != NULL && add_document (cc, document, uri) == NULL)
        return FALSE;
      loc = g_hash_table_lookup (cc->uris, uri);
    }
  if (loc == NULL)
    {
      if (cc->registry == NULL)
        return schema_compile_fail (cc, location,
                             "'%s' target '%s' is not in this schema, and there is no registry to find '%s' in",
                             keyword, text, uri);
      return schema_compile_fail (cc, location, "'%s' target '%s' cannot be resolved: no document is registered as '%s'",
                           keyword, text, uri);
    }

  if (fragment[0] == '\0' || fragment[0] == '/')
    {
      g_autofree char *decoded = g_uri_unescape_string (fragment, NULL);
      g_autofree char *pointer = NULL;

      if (decoded == NULL)
        return schema_compile_fail (cc, location, "'%s' value '%s' is not a valid URI fragment", keyword, text);
      pointer = g_strconcat (loc->pointer, decoded, NULL);
      target = node_at (cc, loc, pointer, location, text);
    }
  else
    {
      g_autofree char *anchor_uri = g_strconcat (uri, "#", fragment, NULL);
      Loc *anchor = g_hash_table_lookup (cc->uris, anchor_uri);

      if (anchor == NULL)
        return schema_compile_fail (cc, location, "'%s' target '%s' names an anchor that does not exist", keyword, text);
      target = node_at (cc, anchor, anchor->pointer, location, text);
    }
  if (target == NULL)
    return FALSE;

  if (!dynamic)
    node->ref = target;
  else
    {
      node->dynamic_ref = target;
      /* only a reference that lands on a matching $dynamicAnchor is dynamic;
       * any other behaves as $ref */
      if (target->dynamic_anchor != NULL && strcmp (target->dynamic_anchor, fragment) == 0)
        node->dynamic_ref_anchor = g_strdup (fragment);
    }
  return TRUE;
}

static gboolean
link_refs (Compiler *cc)
{
  /* linking can compile new documents, which can add pending refs */
  for (guint i = 0; i < cc->pending->len; i++)
    if (!link_ref (cc, &g_array_index (cc->pending, PendingRef, i)))
      return FALSE;
  return TRUE;
}

/* In-place applicators: they check the same value, so a cycle of them
 * would recurse forever. */
typedef struct {
  SchemaNode *node;
  char        name[64];
} Edge;

static guint
in_place_edges (const SchemaNode *n,
                Edge            **out)
{
  guint count = 0;
  Edge *edges;

  count = n->n_all_of + n->n_any_of + n->n_one_of + n->n_dep_schemas + 6;
  edges = g_new0 (Edge, count);
  count = 0;
#define EDGE(target, ...)                                                  \
  G_STMT_START {                                                           \
    if ((target) != NULL)                                                  \
      {                                                                    \
        edges[count].node = (target);                                      \
        g_snprintf (edges[count].name, sizeof edges[count].name, __VA_ARGS__); \
        count++;                                                           \
      }                                                                    \
  } G_STMT_END
  EDGE (n->ref, "$ref");
  EDGE (n->dynamic_ref, "$dynamicRef");
  EDGE (n->not, "not");
  EDGE (n->if_, "if");
  EDGE (n->then_, "then");
  EDGE (n->else_, "else");
  for (guint i = 0; i < n->n_all_of; i++)
    EDGE (n->all_of[i], "allOf/%u", i);
  for (guint i = 0; i < n->n_any_of; i++)
    EDGE (n->any_of[i], "anyOf/%u", i);
  for (guint i = 0; i < n->n_one_of; i++)
    EDGE (n->one_of[i], "oneOf/%u", i);
  for (guint i = 0; i < n->n_dep_schemas; i++)
    EDGE (n->dep_schemas[i].schema, "%s/%.40s", n->legacy_dependencies ? "dependencies" : "dependentSchemas",
          n->dep_schemas[i].name);
#undef EDGE
  *out = edges;
  return count;
}

/* A cycle of in-place edges would re-validate the same value forever:
 * reject it at compile time.  Iterative, so a long chain cannot overflow
 * the stack. */
static gboolean
check_cycles (Compiler   *cc,
              SchemaNode *start)
{
  typedef struct {
    SchemaNode *node;
    Edge       *edges;
    guint       n_edges;
    guint       next;
  } Frame;
  g_autoptr(GArray) stack = NULL;
  gboolean ok = TRUE;

  if (start->mark == 2)
    return TRUE;
  stack = g_array_new (FALSE, TRUE, sizeof (Frame));
  {
    Frame f = { start, NULL, 0, 0 };

    f.n_edges = in_place_edges (start, &f.edges);
    start->mark = 1;
    g_array_append_val (stack, f);
  }

  while (stack->len > 0 && ok)
    {
      Frame *top = &g_array_index (stack, Frame, stack->len - 1);

      if (top->next == top->n_edges)
        {
          top->node->mark = 2;
          g_free (top->edges);
          g_array_set_size (stack, stack->len - 1);
          continue;
        }
      {
        Edge *e = &top->edges[top->next++];
        SchemaNode *child = e->node;
        Frame f = { child, NULL, 0, 0 };

        if (child->mark == 2)
          continue;
        if (child->mark == 1)
          {
            g_autofree char *loc = g_strconcat (top->node->path, "/", e->name, NULL);
            char *slash = strchr (e->name, '/');

            if (slash != NULL)
              *slash = '\0';
            ok = schema_compile_fail (cc, loc,
                               "'%s' leads back to '%s' without descending into the value, which would loop forever",
                               e->name, child->path[0] != '\0' ? child->path : "#");
            break;
          }
        f.n_edges = in_place_edges (child, &f.edges);
        child->mark = 1;
        g_array_append_val (stack, f);
      }
    }
  for (guint i = 0; i < stack->len; i++)
    g_free (g_array_index (stack, Frame, i).edges);
  return ok;
}

/**
 * sluice_schema_new_full:
 * @schema: the schema document (an object or a boolean)
 * @base_uri: (nullable): the absolute URI the document was retrieved from,
 *   which relative references and `$id`s resolve against; %NULL when it has
 *   none
 * @default_draft: the dialect when the document has no `$schema`
 * @flags: compile options
 * @registry: (nullable): where remote references and custom metaschemas
 *   are looked up; %NULL allows references inside @schema only
 * @error: return location for a %SLUICE_SCHEMA_ERROR_INVALID error
 *
 * Compiles a JSON Schema.  Fails when the schema is malformed, names a
 * dialect that is not supported, has a pattern PCRE2 cannot compile, or a
 * reference that cannot be resolved or loops without descending into the
 * value.  The error message starts with the JSON Pointer of the offending
 * location.  Neither @schema nor @registry is referenced after this
 * returns.
 *
 * Returns: (transfer full) (nullable): the compiled schema
 */
SluiceSchema *
sluice_schema_new_full (JsonNode              *schema,
                        const char            *base_uri,
                        SluiceSchemaDraft      default_draft,
                        SluiceSchemaFlags      flags,
                        SluiceSchemaRegistry  *registry,
                        GError               **error)
{
  g_autoptr(SluiceSchema) self = NULL;
  Compiler cc = { 0 };
  Doc *doc;
  gboolean ok;

  g_return_val_if_fail (schema != NULL, NULL);
  g_return_val_if_fail (default_draft == SLUICE_SCHEMA_DRAFT_2020_12 || default_draft == SLUICE_SCHEMA_DRAFT_7, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  self = g_new0 (SluiceSchema, 1);
  g_atomic_ref_count_init (&self->ref_count);
  self->nodes = g_ptr_array_new_with_free_func (schema_node_free);
  self->resources = g_ptr_array_new_with_free_func (schema_resource_free);
  self->by_path = g_hash_table_new (g_str_hash, g_str_equal);

  cc.schema = self;
  cc.registry = registry;
  cc.flags = flags;
  cc.default_dialect = (Dialect) { default_draft, default_draft == SLUICE_SCHEMA_DRAFT_7 ? 0 : VOC_DEFAULT };
  cc.docs = g_ptr_array_new_with_free_func (doc_free);
  cc.uris = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, loc_free);
  cc.pending = g_array_new (FALSE, TRUE, sizeof (PendingRef));
  g_array_set_clear_func (cc.pending, pending_ref_clear);

  if (base_uri != NULL && g_uri_peek_scheme (base_uri) == NULL)
    {
      g_set_error (error, SLUICE_SCHEMA_ERROR, SLUICE_SCHEMA_ERROR_INVALID,
                   "the base URI '%s' is not absolute", base_uri);
      ok = FALSE;
    }
  else
    {
      g_autofree char *tmp = NULL;

      doc = add_document (&cc, schema, base_uri != NULL ? strip_empty_fragment (base_uri, &tmp) : DEFAULT_BASE_URI);
      ok = doc != NULL && link_refs (&cc);
      if (ok)
        self->root = g_hash_table_lookup (self->by_path, "");
      for (guint i = 0; ok && i < self->nodes->len; i++)
        ok = check_cycles (&cc, g_ptr_array_index (self->nodes, i));
      if (!ok)
        g_propagate_error (error, g_steal_pointer (&cc.error));
    }

  g_clear_error (&cc.error);
  g_array_unref (cc.pending);
  g_hash_table_unref (cc.uris);
  g_ptr_array_unref (cc.docs);
  if (!ok)
    return NULL;
  return g_steal_pointer (&self);
}
