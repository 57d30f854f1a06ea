/* sluice-schema.c — compiled JSON Schema validator: drafts 2020-12 and 7
 *
 * Complete for both drafts: the JSON-Schema-Test-Suite's required tests all
 * pass (tests/engine/test-schema-suite.c: 1,299 of draft 2020-12, 927 of
 * draft 7, none skipped).
 *
 * Design: compilation (sluice-schema-compile.c for keywords,
 * sluice-schema-resolve.c for documents and references) walks the schema
 * document once and builds a graph of SchemaNode structs (one per
 * subschema, all owned by the SluiceSchema's `nodes` array).  `$ref` and `$dynamicRef`
 * edges are plain pointers to other nodes, linked after the walk, so
 * recursive schemas cost nothing extra and validation never looks a keyword
 * up by name.  Remote references load whole documents from a
 * SluiceSchemaRegistry (never the network) and compile them into the same
 * graph.  The graph is never written after compilation, which is what makes
 * concurrent validation safe.
 *
 * Validation (sluice-schema-validate.c) allocates nothing on the success
 * path: the instance path and the dynamic scope are chains of stack frames,
 * turned into strings only when a violation is recorded; messages are only
 * formatted when someone will read them (not inside anyOf/oneOf/not
 * probes); patterns match through SluiceRegex (PCRE2, one match block per
 * thread).  The exceptions are the keywords that need annotations from
 * other keywords (unevaluatedProperties and unevaluatedItems collect the
 * evaluated names and indices in hash sets) and a propertyNames schema
 * with more than string keywords (each name becomes a temporary node).
 *
 * Where it departs from the letter of the specifications:
 *  - `pattern` and `patternProperties` are ECMA-262 translated for PCRE2
 *    (sluice-schema-regex.c lists what is translated and the gaps).
 *  - `format` asserts only date-time, date, time, email, hostname, ipv4,
 *    ipv6, uri and uuid (with SLUICE_SCHEMA_ASSERT_FORMAT or the 2020-12
 *    format-assertion vocabulary; sluice-schema-format.c has the gaps);
 *    other formats are annotations.
 *  - `$schema` names draft 2020-12, draft 7, or a custom metaschema in the
 *    registry (its `$vocabulary` is honoured); other dialects are refused.
 *    `dependencies` is honoured in 2020-12 too, for schemas written for
 *    draft 7.
 *  - content* keywords are annotations, as both drafts allow.
 *  - Schemas are not validated against their metaschema, only checked for
 *    what the compiler needs (types of keyword values, valid patterns and
 *    anchors, resolvable references).  `{"$ref": "#"}` and other loops that
 *    do not descend into the instance are refused at compile time; a loop
 *    only the dynamic scope creates ends at MAX_FRAMES with a violation,
 *    and a validation that would visit more than MAX_VISITS subschemas
 *    (exponential anyOf/oneOf) gives up with one.
 *  - Strings are json-glib's C strings: a NUL character ends them.
 */
#define G_LOG_DOMAIN "sluice-schema"

#include "sluice-schema-node-private.h"
#include "sluice.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

G_DEFINE_QUARK (sluice-schema-error-quark, sluice_schema_error)

const SchemaTypeName schema_type_names[N_TYPE_NAMES] = {
  { "null", T_NULL },
  { "boolean", T_BOOLEAN },
  { "object", T_OBJECT },
  { "array", T_ARRAY },
  { "number", T_NUMBER },
  { "string", T_STRING },
  { "integer", T_INTEGER },
};

/* ------------------------------------------------------------------------ */
/* JSON Pointer helpers                                                      */

void
schema_append_escaped_token (GString    *s,
                             const char *token)
{
  for (const char *p = token; *p != '\0'; p++)
    {
      if (*p == '~')
        g_string_append (s, "~0");
      else if (*p == '/')
        g_string_append (s, "~1");
      else
        g_string_append_c (s, *p);
    }
}

/**
 * sluice_json_pointer_append:
 * @base: (nullable): a JSON Pointer ("" or %NULL for the root)
 * @token: an unescaped reference token (a member name or an array index)
 *
 * Appends one reference token to a JSON Pointer, escaping `~` and `/` as
 * RFC 6901 requires.
 *
 * Returns: (transfer full): the new pointer
 */
char *
sluice_json_pointer_append (const char *base,
                            const char *token)
{
  GString *s;

  g_return_val_if_fail (token != NULL, NULL);

  s = g_string_new (base != NULL ? base : "");
  g_string_append_c (s, '/');
  schema_append_escaped_token (s, token);
  return g_string_free (s, FALSE);
}

static gboolean
parse_array_index (const char *token,
                   guint       length,
                   guint      *out)
{
  guint64 value = 0;

  /* RFC 6901: "0" or digits without a leading zero; "-" names no element */
  if (token[0] == '\0' || (token[0] == '0' && token[1] != '\0'))
    return FALSE;
  for (const char *p = token; *p != '\0'; p++)
    {
      if (!g_ascii_isdigit (*p))
        return FALSE;
      value = value * 10 + (guint64) (*p - '0');
      if (value >= length)
        return FALSE;
    }
  *out = (guint) value;
  return TRUE;
}

/**
 * sluice_json_pointer_resolve:
 * @root: the document
 * @pointer: an RFC 6901 JSON Pointer ("" is the whole document)
 *
 * Looks up the value a JSON Pointer names.
 *
 * Returns: (transfer none) (nullable): the value, or %NULL if the pointer is
 *   malformed or names nothing
 */
JsonNode *
sluice_json_pointer_resolve (JsonNode   *root,
                             const char *pointer)
{
  g_autoptr(GString) token = NULL;
  JsonNode *cur = root;
  const char *p;

  g_return_val_if_fail (root != NULL, NULL);
  g_return_val_if_fail (pointer != NULL, NULL);

  if (pointer[0] == '\0')
    return root;
  if (pointer[0] != '/')
    return NULL;

  token = g_string_new (NULL);
  p = pointer + 1;
  for (;;)
    {
      g_string_truncate (token, 0);
      for (; *p != '\0' && *p != '/'; p++)
        {
          if (*p != '~')
            g_string_append_c (token, *p);
          else if (p[1] == '0')
            g_string_append_c (token, '~'), p++;
          else if (p[1] == '1')
            g_string_append_c (token, '/'), p++;
          else
            return NULL;
        }

      if (JSON_NODE_HOLDS_OBJECT (cur))
        {
          cur = json_object_get_member (json_node_get_object (cur), token->str);
          if (cur == NULL)
            return NULL;
        }
      else if (JSON_NODE_HOLDS_ARRAY (cur))
        {
          JsonArray *array = json_node_get_array (cur);
          guint index;

          if (!parse_array_index (token->str, json_array_get_length (array), &index))
            return NULL;
          cur = json_array_get_element (array, index);
        }
      else
        return NULL;

      if (*p == '\0')
        return cur;
      p++; /* skip '/' */
    }
}

/* ------------------------------------------------------------------------ */
/* Numbers, equality, hashing                                                */

gboolean
schema_num_from_node (JsonNode *node,
                      Num      *out)
{
  GType type;

  if (!JSON_NODE_HOLDS_VALUE (node))
    return FALSE;
  type = json_node_get_value_type (node);
  if (type == G_TYPE_INT64)
    {
      out->is_int = TRUE;
      out->i = json_node_get_int (node);
      out->d = (double) out->i;
      return TRUE;
    }
  if (type == G_TYPE_DOUBLE)
    {
      out->is_int = FALSE;
      out->i = 0;
      out->d = json_node_get_double (node);
      return TRUE;
    }
  return FALSE;
}

int
schema_num_cmp (const Num *a,
                const Num *b)
{
  long double x, y;

  if (a->is_int && b->is_int)
    return (a->i > b->i) - (a->i < b->i);
  /* long double holds every int64 exactly, so 2^53+1 vs 2^53 stays distinct */
  x = a->is_int ? (long double) a->i : (long double) a->d;
  y = b->is_int ? (long double) b->i : (long double) b->d;
  return (x > y) - (x < y);
}

/* libm-free helpers (the library does not link libm): every double of
 * magnitude 2^53 or more is integral, below that a cast truncates exactly. */
#define TWO_POW_53 9007199254740992.0

static double
abs_double (double d)
{
  return d < 0 ? -d : d;
}

static gboolean
double_is_integral (double d)
{
  return isfinite (d) && (abs_double (d) >= TWO_POW_53 || d == (double) (gint64) d);
}

static double
round_double (double d)
{
  if (abs_double (d) >= TWO_POW_53)
    return d;
  return (double) (gint64) (d + (d >= 0 ? 0.5 : -0.5));
}

gboolean
schema_num_is_integral (const Num *n)
{
  return n->is_int || double_is_integral (n->d);
}

static const char *
format_double (char   *buf,
               double  d)
{
  if (d == 0)
    return strcpy (buf, "0");
  if (double_is_integral (d) && abs_double (d) < 1e15)
    {
      g_snprintf (buf, NUM_BUF, "%.0f", d);
      return buf;
    }
  /* shortest %g that reads back as the same double */
  for (int precision = 1; precision <= 17; precision++)
    {
      char format[8];

      g_snprintf (format, sizeof format, "%%.%dg", precision);
      g_ascii_formatd (buf, NUM_BUF, format, d);
      if (g_ascii_strtod (buf, NULL) == d)
        break;
    }
  return buf;
}

const char *
schema_format_num (char      *buf,
                   const Num *n)
{
  if (n->is_int)
    {
      g_snprintf (buf, NUM_BUF, "%" G_GINT64_FORMAT, n->i);
      return buf;
    }
  return format_double (buf, n->d);
}

/* The shortest decimal that reads back as the number (what the schema or
 * the instance most likely said).  FALSE for non-finite values. */
gboolean
schema_num_to_decimal (const Num *n,
                       Decimal   *out)
{
  char buf[NUM_BUF];
  guint64 mantissa = 0;
  int exponent = 0;
  const char *p;

  if (n->is_int)
    {
      mantissa = n->i < 0 ? (guint64) 0 - (guint64) n->i : (guint64) n->i;
    }
  else
    {
      if (!isfinite (n->d))
        return FALSE;
      /* digits, an optional point, an optional exponent: at most 17 digits */
      for (int precision = 1; precision <= 17; precision++)
        {
          char format[8];

          g_snprintf (format, sizeof format, "%%.%de", precision - 1);
          g_ascii_formatd (buf, NUM_BUF, format, n->d);
          if (g_ascii_strtod (buf, NULL) == n->d)
            break;
        }
      p = buf;
      if (*p == '-')
        p++;
      for (gboolean after_point = FALSE; *p != '\0' && *p != 'e'; p++)
        {
          if (*p == '.')
            {
              after_point = TRUE;
              continue;
            }
          mantissa = mantissa * 10 + (guint64) (*p - '0');
          if (after_point)
            exponent--;
        }
      if (*p == 'e')
        exponent += atoi (p + 1);
    }
  while (mantissa != 0 && mantissa % 10 == 0)
    {
      mantissa /= 10;
      exponent++;
    }
  if (mantissa == 0)
    exponent = 0;
  out->mantissa = mantissa;
  out->exponent = exponent;
  return TRUE;
}

static gboolean
decimal_is_multiple (const Decimal *value,
                     const Decimal *divisor)
{
  int shift = value->exponent - divisor->exponent;

  if (value->mantissa == 0)
    return TRUE;
  if (divisor->mantissa == 0)
    return FALSE;
  if (shift >= 0)
    {
      /* value·10^shift mod divisor, one power of ten at a time */
      unsigned __int128 r = value->mantissa % divisor->mantissa;

      for (int i = 0; i < shift && r != 0; i++)
        r = (r * 10) % divisor->mantissa;
      return r == 0;
    }
  else
    {
      unsigned __int128 m = divisor->mantissa;

      /* the value's mantissa (< 10^20) must be a multiple of divisor·10^-shift */
      if (shift < -20)
        return FALSE;
      for (int i = 0; i < -shift; i++)
        m *= 10;
      return value->mantissa % m == 0;
    }
}

/* Exact for decimals: 0.0075 is a multiple of 0.0001 although neither is
 * exact in binary, and 1e308 is no multiple of 0.123456789 although the
 * quotient overflows. */
gboolean
schema_num_is_multiple (const Num     *value,
                        const Num     *divisor,
                        const Decimal *divisor_decimal)
{
  Decimal v;
  double q;

  if (value->is_int && divisor->is_int)
    return value->i % divisor->i == 0;
  /* fast paths: an exact binary quotient, or one far from any integer */
  q = value->d / divisor->d;
  if (isfinite (q) && abs_double (q) < TWO_POW_53)
    {
      double rounded = round_double (q);

      if (q == rounded && rounded * divisor->d == value->d)
        return TRUE;
      if (abs_double (q - rounded) > 1e-6)
        return FALSE;
    }
  if (!schema_num_to_decimal (value, &v))
    return FALSE;
  return decimal_is_multiple (&v, divisor_decimal);
}

gboolean
schema_json_equal (JsonNode *a,
                   JsonNode *b,
                   guint     depth)
{
  JsonNodeType ta = json_node_get_node_type (a);

  if (ta != json_node_get_node_type (b) || depth > MAX_INSTANCE_DEPTH)
    return FALSE;

  switch (ta)
    {
    case JSON_NODE_NULL:
      return TRUE;

    case JSON_NODE_VALUE:
      {
        GType va = json_node_get_value_type (a);
        GType vb = json_node_get_value_type (b);
        Num na, nb;

        if (schema_num_from_node (a, &na) && schema_num_from_node (b, &nb))
          return schema_num_cmp (&na, &nb) == 0;
        if (va != vb)
          return FALSE;
        if (va == G_TYPE_STRING)
          return g_strcmp0 (json_node_get_string (a), json_node_get_string (b)) == 0;
        if (va == G_TYPE_BOOLEAN)
          return !json_node_get_boolean (a) == !json_node_get_boolean (b);
        return FALSE;
      }

    case JSON_NODE_ARRAY:
      {
        JsonArray *xa = json_node_get_array (a);
        JsonArray *xb = json_node_get_array (b);
        guint len = json_array_get_length (xa);

        if (len != json_array_get_length (xb))
          return FALSE;
        for (guint i = 0; i < len; i++)
          if (!schema_json_equal (json_array_get_element (xa, i), json_array_get_element (xb, i), depth + 1))
            return FALSE;
        return TRUE;
      }

    case JSON_NODE_OBJECT:
      {
        JsonObject *oa = json_node_get_object (a);
        JsonObject *ob = json_node_get_object (b);
        JsonObjectIter iter;
        const char *name;
        JsonNode *member;

        if (json_object_get_size (oa) != json_object_get_size (ob))
          return FALSE;
        json_object_iter_init (&iter, oa);
        while (json_object_iter_next (&iter, &name, &member))
          {
            JsonNode *other = json_object_get_member (ob, name);

            if (other == NULL || !schema_json_equal (member, other, depth + 1))
              return FALSE;
          }
        return TRUE;
      }

    default:
      return FALSE;
    }
}

/* Consistent with schema_json_equal(): 1 and 1.0 hash alike, member order does not
 * matter.  Deep levels are not hashed (equality still decides). */
guint
schema_json_hash (JsonNode *node,
                  guint     depth)
{
  Num num;

  switch (json_node_get_node_type (node))
    {
    case JSON_NODE_NULL:
      return 1;

    case JSON_NODE_VALUE:
      if (schema_num_from_node (node, &num))
        {
          if (schema_num_is_integral (&num) && (num.is_int || abs_double (num.d) < 9.2e18))
            {
              gint64 i = num.is_int ? num.i : (gint64) num.d;
              return (guint) (i ^ (i >> 32));
            }
          return g_double_hash (&num.d);
        }
      if (json_node_get_value_type (node) == G_TYPE_STRING)
        return g_str_hash (json_node_get_string (node));
      return json_node_get_boolean (node) ? 3 : 2;

    case JSON_NODE_ARRAY:
      {
        JsonArray *array = json_node_get_array (node);
        guint len = json_array_get_length (array);
        guint h = 17 + len;

        if (depth < 8)
          for (guint i = 0; i < len; i++)
            h = h * 31 + schema_json_hash (json_array_get_element (array, i), depth + 1);
        return h;
      }

    case JSON_NODE_OBJECT:
      {
        JsonObject *object = json_node_get_object (node);
        guint h = 29 + json_object_get_size (object);
        JsonObjectIter iter;
        const char *name;
        JsonNode *member;

        json_object_iter_init (&iter, object);
        while (json_object_iter_next (&iter, &name, &member))
          h += g_str_hash (name) * 31 + (depth < 8 ? schema_json_hash (member, depth + 1) : 0);
        return h;
      }

    default:
      return 0;
    }
}

/* Type of a JSON value as a set of TypeBits (integral numbers are both
 * "number" and "integer"). */
guint
schema_instance_type (JsonNode *node,
                      Num      *num)
{
  switch (json_node_get_node_type (node))
    {
    case JSON_NODE_OBJECT:
      return T_OBJECT;
    case JSON_NODE_ARRAY:
      return T_ARRAY;
    case JSON_NODE_NULL:
      return T_NULL;
    case JSON_NODE_VALUE:
      if (schema_num_from_node (node, num))
        return schema_num_is_integral (num) ? (T_NUMBER | T_INTEGER) : T_NUMBER;
      switch (json_node_get_value_type (node))
        {
        case G_TYPE_STRING:
          return T_STRING;
        case G_TYPE_BOOLEAN:
          return T_BOOLEAN;
        default:
          return 0;
        }
    default:
      return 0;
    }
}

const char *
schema_instance_type_name (guint bits)
{
  if (bits & T_INTEGER)
    return "integer";
  for (guint i = 0; i < G_N_ELEMENTS (schema_type_names); i++)
    if (bits & schema_type_names[i].bit)
      return schema_type_names[i].name;
  return "unknown";
}

const char *
schema_json_kind_name (JsonNode *node)
{
  Num num;

  return schema_instance_type_name (schema_instance_type (node, &num));
}

/* ------------------------------------------------------------------------ */
/* Compiled nodes                                                            */

void
schema_node_free (gpointer data)
{
  SchemaNode *n = data;

  g_free (n->path);
  g_free (n->dynamic_anchor);
  g_clear_pointer (&n->const_value, json_node_unref);
  for (guint i = 0; i < n->n_enum; i++)
    json_node_unref (n->enum_values[i]);
  g_free (n->enum_values);
  g_clear_pointer (&n->enum_strings, g_hash_table_unref);
  g_free (n->enum_scalars);
  g_free (n->required_prop);
  g_clear_pointer (&n->pattern, sluice_regex_free);
  g_free (n->pattern_source);
  g_free (n->format_name);
  for (guint i = 0; i < n->n_props; i++)
    g_free (n->props[i].name);
  g_free (n->props);
  g_clear_pointer (&n->prop_index, g_hash_table_unref);
  for (guint i = 0; i < n->n_pattern_props; i++)
    {
      g_free (n->pattern_props[i].source);
      g_clear_pointer (&n->pattern_props[i].regex, sluice_regex_free);
    }
  g_free (n->pattern_props);
  g_strfreev (n->required);
  for (guint i = 0; i < n->n_dep_required; i++)
    {
      g_free (n->dep_required[i].name);
      g_strfreev (n->dep_required[i].required);
    }
  g_free (n->dep_required);
  for (guint i = 0; i < n->n_dep_schemas; i++)
    g_free (n->dep_schemas[i].name);
  g_free (n->dep_schemas);
  g_free (n->prefix_items);
  g_free (n->all_of);
  g_free (n->any_of);
  g_free (n->one_of);
  g_free (n->dynamic_ref_anchor);
  g_free (n);
}

void
schema_resource_free (gpointer data)
{
  SchemaResource *r = data;

  g_free (r->uri);
  g_clear_pointer (&r->dynamic_anchors, g_hash_table_unref);
  g_free (r);
}

/* ------------------------------------------------------------------------ */
/* Registry                                                                  */

typedef struct {
  char *prefix;
  char *folder;
} FolderMap;

struct _SluiceSchemaRegistry {
  gatomicrefcount  ref_count;
  GMutex           lock;       /* guards documents: folder lookups fill it */
  GHashTable      *documents;  /* URI without fragment → JsonNode* */
  GArray          *folders;    /* FolderMap */
};

static void
folder_map_clear (gpointer data)
{
  FolderMap *map = data;

  g_free (map->prefix);
  g_free (map->folder);
}

/**
 * sluice_schema_registry_new:
 *
 * Creates an empty registry of schema documents.
 *
 * Returns: (transfer full): the registry
 */
SluiceSchemaRegistry *
sluice_schema_registry_new (void)
{
  SluiceSchemaRegistry *registry = g_new0 (SluiceSchemaRegistry, 1);

  g_atomic_ref_count_init (&registry->ref_count);
  g_mutex_init (&registry->lock);
  registry->documents = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) json_node_unref);
  registry->folders = g_array_new (FALSE, TRUE, sizeof (FolderMap));
  g_array_set_clear_func (registry->folders, folder_map_clear);
  return registry;
}

/**
 * sluice_schema_registry_ref:
 * @registry: a registry
 *
 * Returns: (transfer full): @registry
 */
SluiceSchemaRegistry *
sluice_schema_registry_ref (SluiceSchemaRegistry *registry)
{
  g_return_val_if_fail (registry != NULL, NULL);

  g_atomic_ref_count_inc (&registry->ref_count);
  return registry;
}

/**
 * sluice_schema_registry_unref:
 * @registry: (transfer full): a registry
 */
void
sluice_schema_registry_unref (SluiceSchemaRegistry *registry)
{
  g_return_if_fail (registry != NULL);

  if (!g_atomic_ref_count_dec (&registry->ref_count))
    return;
  g_hash_table_unref (registry->documents);
  g_array_unref (registry->folders);
  g_mutex_clear (&registry->lock);
  g_free (registry);
}

static char *
uri_without_fragment (const char *uri)
{
  const char *hash = strchr (uri, '#');

  return hash != NULL ? g_strndup (uri, (gsize) (hash - uri)) : g_strdup (uri);
}

/**
 * sluice_schema_registry_add:
 * @registry: a registry
 * @uri: the absolute URI `$ref`s use for the document (a fragment is
 *   ignored)
 * @document: the schema document; the registry keeps a copy
 *
 * Registers a document.  A document with an `$id` of its own is found under
 * that URI too once a schema that references it compiles.
 */
void
sluice_schema_registry_add (SluiceSchemaRegistry *registry,
                            const char           *uri,
                            JsonNode             *document)
{
  g_return_if_fail (registry != NULL);
  g_return_if_fail (uri != NULL);
  g_return_if_fail (document != NULL);

  g_mutex_lock (&registry->lock);
  g_hash_table_replace (registry->documents, uri_without_fragment (uri), json_node_copy (document));
  g_mutex_unlock (&registry->lock);
}

/**
 * sluice_schema_registry_add_folder:
 * @registry: a registry
 * @uri_prefix: a URI prefix such as "http://localhost:1234/"
 * @folder: the folder whose files the URIs under @uri_prefix name
 *
 * Maps a URI prefix to a folder: "<prefix>a/b.json" is read from
 * "<folder>/a/b.json" the first time a schema refers to it.  URIs that
 * would leave the folder ("..") are not looked up.
 */
void
sluice_schema_registry_add_folder (SluiceSchemaRegistry *registry,
                                   const char           *uri_prefix,
                                   const char           *folder)
{
  FolderMap map;

  g_return_if_fail (registry != NULL);
  g_return_if_fail (uri_prefix != NULL);
  g_return_if_fail (folder != NULL);

  map.prefix = g_strdup (uri_prefix);
  map.folder = g_strdup (folder);
  g_mutex_lock (&registry->lock);
  g_array_append_val (registry->folders, map);
  g_mutex_unlock (&registry->lock);
}

static JsonNode *
load_from_folders (SluiceSchemaRegistry  *registry,
                   const char            *uri,
                   GError               **error)
{
  for (guint i = 0; i < registry->folders->len; i++)
    {
      FolderMap *map = &g_array_index (registry->folders, FolderMap, i);
      const char *rest;
      g_auto(GStrv) segments = NULL;
      g_autofree char *path = NULL;
      g_autofree char *contents = NULL;
      gsize length = 0;
      JsonNode *root;
      g_autoptr(GError) local_error = NULL;

      if (!g_str_has_prefix (uri, map->prefix))
        continue;
      rest = uri + strlen (map->prefix);
      if (rest[0] == '\0' || rest[0] == '/' || strchr (rest, '\\') != NULL || strchr (rest, '?') != NULL)
        continue;
      segments = g_strsplit (rest, "/", -1);
      if (g_strv_contains ((const char * const *) segments, "..") ||
          g_strv_contains ((const char * const *) segments, "."))
        continue;
      path = g_build_filename (map->folder, rest, NULL);
      if (!g_file_test (path, G_FILE_TEST_IS_REGULAR))
        continue;
      if (!g_file_get_contents (path, &contents, &length, &local_error) ||
          (root = sluice_json_from_string (contents, (gssize) length, &local_error)) == NULL)
        {
          g_set_error (error, SLUICE_SCHEMA_ERROR, SLUICE_SCHEMA_ERROR_INVALID,
                       "the document for '%s' (%s) is not valid JSON: %s", uri, path, local_error->message);
          return NULL;
        }
      return root;
    }
  return NULL;
}

/**
 * sluice_schema_registry_lookup:
 * @registry: a registry
 * @uri: an absolute URI (a fragment is ignored)
 * @error: set when a mapped file exists but is not JSON
 *
 * Returns: (transfer full) (nullable): the document registered under @uri
 *   or read from a mapped folder, or %NULL
 */
JsonNode *
sluice_schema_registry_lookup (SluiceSchemaRegistry  *registry,
                               const char            *uri,
                               GError               **error)
{
  g_autofree char *key = NULL;
  JsonNode *document;

  g_return_val_if_fail (registry != NULL, NULL);
  g_return_val_if_fail (uri != NULL, NULL);

  key = uri_without_fragment (uri);
  g_mutex_lock (&registry->lock);
  document = g_hash_table_lookup (registry->documents, key);
  if (document == NULL)
    {
      document = load_from_folders (registry, key, error);
      if (document != NULL)
        g_hash_table_insert (registry->documents, g_strdup (key), document);
    }
  if (document != NULL)
    json_node_ref (document);
  g_mutex_unlock (&registry->lock);
  return document;
}

/* ------------------------------------------------------------------------ */
/* Lifetime                                                                  */

/**
 * sluice_schema_new:
 * @schema: the schema document (an object or a boolean)
 * @error: return location for a %SLUICE_SCHEMA_ERROR_INVALID error
 *
 * Compiles a JSON Schema of draft 2020-12 (or of the dialect its `$schema`
 * names), without a registry: every `$ref` must resolve inside @schema.
 * See sluice_schema_new_full().
 *
 * Returns: (transfer full) (nullable): the compiled schema
 */
SluiceSchema *
sluice_schema_new (JsonNode  *schema,
                   GError   **error)
{
  return sluice_schema_new_full (schema, NULL, SLUICE_SCHEMA_DRAFT_2020_12, SLUICE_SCHEMA_FLAGS_NONE, NULL, error);
}

/**
 * sluice_schema_new_from_string:
 * @json: the schema as JSON text
 * @error: return location for a %SLUICE_SCHEMA_ERROR_INVALID error
 *
 * Parses and compiles a schema; see sluice_schema_new().
 *
 * Returns: (transfer full) (nullable): the compiled schema
 */
SluiceSchema *
sluice_schema_new_from_string (const char  *json,
                               GError     **error)
{
  g_autoptr(JsonNode) root = NULL;
  g_autoptr(GError) local_error = NULL;

  g_return_val_if_fail (json != NULL, NULL);

  if ((root = sluice_json_from_string (json, -1, &local_error)) == NULL)
    {
      g_set_error (error, SLUICE_SCHEMA_ERROR, SLUICE_SCHEMA_ERROR_INVALID,
                   "the schema is not valid JSON: %s", local_error->message);
      return NULL;
    }
  return sluice_schema_new (root, error);
}

/**
 * sluice_schema_ref:
 * @s: a schema
 *
 * Returns: (transfer full): @s
 */
SluiceSchema *
sluice_schema_ref (SluiceSchema *s)
{
  g_return_val_if_fail (s != NULL, NULL);

  g_atomic_ref_count_inc (&s->ref_count);
  return s;
}

/**
 * sluice_schema_unref:
 * @s: (transfer full): a schema
 */
void
sluice_schema_unref (SluiceSchema *s)
{
  g_return_if_fail (s != NULL);

  if (!g_atomic_ref_count_dec (&s->ref_count))
    return;
  g_hash_table_unref (s->by_path);
  g_ptr_array_unref (s->nodes);
  g_ptr_array_unref (s->resources);
  g_free (s);
}

/**
 * sluice_violation_free:
 * @v: (nullable) (transfer full): a violation
 */
void
sluice_violation_free (SluiceViolation *v)
{
  if (v == NULL)
    return;
  g_free (v->instance_path);
  g_free (v->keyword_path);
  g_free (v->message);
  g_free (v);
}

static void
collect_property_names (const SchemaNode *n,
                        GPtrArray        *names,
                        GHashTable       *seen_names,
                        GHashTable       *seen_nodes)
{
  if (n == NULL || !g_hash_table_add (seen_nodes, (gpointer) n))
    return;
  for (guint i = 0; i < n->n_props; i++)
    if (g_hash_table_add (seen_names, n->props[i].name))
      g_ptr_array_add (names, g_strdup (n->props[i].name));
  collect_property_names (n->ref, names, seen_names, seen_nodes);
  for (guint i = 0; i < n->n_all_of; i++)
    collect_property_names (n->all_of[i], names, seen_names, seen_nodes);
}

/**
 * sluice_schema_dup_property_names:
 * @s: a compiled schema
 * @pointer: JSON Pointer of a subschema in the schema document ("" for the
 *   root, else e.g. "/properties/retry")
 *
 * Lists the property names an object schema declares in `properties`,
 * including those reached through its `$ref` and `allOf`, in declaration
 * order.  For did-you-mean suggestions and template checks.
 *
 * Returns: (transfer full) (array zero-terminated=1): the names; empty when
 *   @pointer names no subschema or it declares no properties
 */
char **
sluice_schema_dup_property_names (SluiceSchema *s,
                                  const char   *pointer)
{
  g_autoptr(GHashTable) seen_names = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr(GHashTable) seen_nodes = g_hash_table_new (NULL, NULL);
  GPtrArray *names = g_ptr_array_new ();

  g_return_val_if_fail (s != NULL, NULL);

  collect_property_names (g_hash_table_lookup (s->by_path, pointer != NULL ? pointer : ""),
                          names, seen_names, seen_nodes);
  g_ptr_array_add (names, NULL);
  return (char **) g_ptr_array_free (names, FALSE);
}
