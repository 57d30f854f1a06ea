/* sluice-schema.c — compiled JSON Schema validator (draft 2020-12 subset)
 *
 * Design: sluice_schema_new() walks the schema document once and builds a
 * graph of SchemaNode structs (one per subschema, all owned by the
 * SluiceSchema's `nodes` array).  `$ref` edges are plain pointers to other
 * nodes, linked after the walk, so recursive schemas cost nothing extra and
 * validation never looks a keyword up by name.  The compiled graph is never
 * written after compilation, which is what makes concurrent validation safe.
 *
 * Validation allocates nothing on the success path: the instance path is a
 * chain of stack frames (PathFrame) that is only turned into a string when a
 * violation is recorded, and messages are only formatted when someone will
 * read them (not inside anyOf/oneOf/not probes).
 *
 * Growing to full 2020-12 means adding fields to SchemaNode and a branch in
 * validate_keywords(); keywords that are recognised but not implemented yet
 * are listed in `keywords[]` as KW_UNSUPPORTED so that nobody relies on them
 * being silently ignored.
 */
#define G_LOG_DOMAIN "sluice-schema"

#include "sluice-schema-private.h"
#include "sluice-regex-private.h"
#include "sluice.h"

#include <math.h>
#include <string.h>

/* Nesting of the instance that validation follows before it gives up with a
 * violation (a deeper recursive descent could overflow the stack). */
#define MAX_INSTANCE_DEPTH 512
/* Nesting of the schema document that compilation follows. */
#define MAX_SCHEMA_DEPTH 512
/* Total validate_node() frames on the stack: allOf/$ref chains that do not
 * descend into the instance also use stack. */
#define MAX_FRAMES 2048
/* Above this many entries, lookups go through a hash table. */
#define SMALL_SET 8
/* How many names or values a message lists before "…". */
#define LIST_CAP 8
#define NUM_BUF 48

G_DEFINE_QUARK (sluice-schema-error-quark, sluice_schema_error)

/* ------------------------------------------------------------------------ */
/* JSON Pointer helpers                                                      */

static void
append_escaped_token (GString    *s,
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
  append_escaped_token (s, token);
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
/* Compiled form                                                             */

typedef enum {
  T_NULL    = 1 << 0,
  T_BOOLEAN = 1 << 1,
  T_OBJECT  = 1 << 2,
  T_ARRAY   = 1 << 3,
  T_NUMBER  = 1 << 4,
  T_STRING  = 1 << 5,
  T_INTEGER = 1 << 6,  /* set together with T_NUMBER for integral numbers */
} TypeBit;

static const struct {
  const char *name;
  TypeBit     bit;
} type_names[] = {
  { "null", T_NULL },
  { "boolean", T_BOOLEAN },
  { "object", T_OBJECT },
  { "array", T_ARRAY },
  { "number", T_NUMBER },
  { "string", T_STRING },
  { "integer", T_INTEGER },
};

typedef enum {
  HAS_TYPE          = 1 << 0,
  HAS_ENUM          = 1 << 1,
  HAS_CONST         = 1 << 2,
  HAS_MINIMUM       = 1 << 3,
  HAS_MAXIMUM       = 1 << 4,
  HAS_EXCL_MIN      = 1 << 5,
  HAS_EXCL_MAX      = 1 << 6,
  HAS_MULTIPLE_OF   = 1 << 7,
  HAS_MIN_LENGTH    = 1 << 8,
  HAS_MAX_LENGTH    = 1 << 9,
  HAS_PATTERN       = 1 << 10,
  HAS_PROPERTIES    = 1 << 11,
  HAS_REQUIRED      = 1 << 12,
  HAS_ADDITIONAL    = 1 << 13,
  HAS_MIN_PROPS     = 1 << 14,
  HAS_MAX_PROPS     = 1 << 15,
  HAS_ITEMS         = 1 << 16,
  HAS_MIN_ITEMS     = 1 << 17,
  HAS_MAX_ITEMS     = 1 << 18,
  HAS_UNIQUE        = 1 << 19,
  HAS_ALL_OF        = 1 << 20,
  HAS_ANY_OF        = 1 << 21,
  HAS_ONE_OF        = 1 << 22,
  HAS_NOT           = 1 << 23,
  HAS_REF           = 1 << 24,
} HasBit;

#define NUMBER_KEYWORDS (HAS_MINIMUM | HAS_MAXIMUM | HAS_EXCL_MIN | HAS_EXCL_MAX | HAS_MULTIPLE_OF)
#define STRING_KEYWORDS (HAS_MIN_LENGTH | HAS_MAX_LENGTH | HAS_PATTERN)
#define OBJECT_KEYWORDS (HAS_PROPERTIES | HAS_REQUIRED | HAS_ADDITIONAL | HAS_MIN_PROPS | HAS_MAX_PROPS)
#define ARRAY_KEYWORDS  (HAS_ITEMS | HAS_MIN_ITEMS | HAS_MAX_ITEMS | HAS_UNIQUE)

/* A JSON number as json-glib holds it: exact 64-bit integer or double. */
typedef struct {
  gboolean is_int;
  gint64   i;
  double   d;
} Num;

typedef struct _SchemaNode SchemaNode;

typedef struct {
  char       *name;
  SchemaNode *schema;
} Prop;

struct _SchemaNode {
  char        *path;        /* JSON Pointer of this subschema in the document */
  guint32      has;         /* HasBit: which keywords are present */
  gboolean     is_false;    /* the boolean schema `false` */
  guint8       mark;        /* cycle check scratch, compile time only */

  guint8       type_mask;
  guint8       n_types;
  guint8       type_order[G_N_ELEMENTS (type_names)]; /* indices into type_names, schema order */

  JsonNode    *const_value;
  JsonNode   **enum_values;
  guint        n_enum;
  GHashTable  *enum_strings; /* set of the string values, when the enum is large */

  Num          minimum, maximum, exclusive_minimum, exclusive_maximum, multiple_of;
  guint64      min_length, max_length;
  SluiceRegex *pattern;
  char        *pattern_source;

  Prop        *props;
  guint        n_props;
  GHashTable  *prop_index;  /* name → Prop*, when there are many properties */
  char       **required;
  guint        n_required;
  SchemaNode  *additional;
  guint64      min_props, max_props;

  SchemaNode  *items;
  guint64      min_items, max_items;

  SchemaNode **all_of, **any_of, **one_of;
  guint        n_all_of, n_any_of, n_one_of;
  SchemaNode  *not;
  SchemaNode  *ref;
};

struct _SluiceSchema {
  gatomicrefcount  ref_count;
  GPtrArray       *nodes;    /* SchemaNode*, owned */
  GHashTable      *by_path;  /* pointer → SchemaNode*, keys owned by the nodes */
  SchemaNode      *root;
};

static void
schema_node_free (gpointer data)
{
  SchemaNode *n = data;

  g_free (n->path);
  g_clear_pointer (&n->const_value, json_node_unref);
  for (guint i = 0; i < n->n_enum; i++)
    json_node_unref (n->enum_values[i]);
  g_free (n->enum_values);
  g_clear_pointer (&n->enum_strings, g_hash_table_unref);
  g_clear_pointer (&n->pattern, sluice_regex_free);
  g_free (n->pattern_source);
  for (guint i = 0; i < n->n_props; i++)
    g_free (n->props[i].name);
  g_free (n->props);
  g_clear_pointer (&n->prop_index, g_hash_table_unref);
  g_strfreev (n->required);
  g_free (n->all_of);
  g_free (n->any_of);
  g_free (n->one_of);
  g_free (n);
}

/* ------------------------------------------------------------------------ */
/* Numbers, equality, hashing                                                */

static gboolean
num_from_node (JsonNode *node,
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

static int
num_cmp (const Num *a,
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

static gboolean
num_is_integral (const Num *n)
{
  return n->is_int || double_is_integral (n->d);
}

static gboolean
num_is_multiple (const Num *value,
                 const Num *divisor)
{
  double q;

  if (value->is_int && divisor->is_int)
    return value->i % divisor->i == 0;
  q = value->d / divisor->d;
  if (!isfinite (q))
    return FALSE;
  /* a relative tolerance, so 0.07 is a multiple of 0.01 despite binary fractions */
  return abs_double (q - round_double (q)) <= 1e-9 * MAX (1.0, abs_double (q));
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

static const char *
format_num (char      *buf,
            const Num *n)
{
  if (n->is_int)
    {
      g_snprintf (buf, NUM_BUF, "%" G_GINT64_FORMAT, n->i);
      return buf;
    }
  return format_double (buf, n->d);
}

static gboolean
json_equal (JsonNode *a,
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

        if (num_from_node (a, &na) && num_from_node (b, &nb))
          return num_cmp (&na, &nb) == 0;
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
          if (!json_equal (json_array_get_element (xa, i), json_array_get_element (xb, i), depth + 1))
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

            if (other == NULL || !json_equal (member, other, depth + 1))
              return FALSE;
          }
        return TRUE;
      }

    default:
      return FALSE;
    }
}

/* Consistent with json_equal(): 1 and 1.0 hash alike, member order does not
 * matter.  Deep levels are not hashed (equality still decides). */
static guint
json_hash (JsonNode *node,
           guint     depth)
{
  Num num;

  switch (json_node_get_node_type (node))
    {
    case JSON_NODE_NULL:
      return 1;

    case JSON_NODE_VALUE:
      if (num_from_node (node, &num))
        {
          if (num_is_integral (&num) && (num.is_int || abs_double (num.d) < 9.2e18))
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
            h = h * 31 + json_hash (json_array_get_element (array, i), depth + 1);
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
          h += g_str_hash (name) * 31 + (depth < 8 ? json_hash (member, depth + 1) : 0);
        return h;
      }

    default:
      return 0;
    }
}

static guint
json_hash_func (gconstpointer key)
{
  return json_hash ((JsonNode *) key, 0);
}

static gboolean
json_equal_func (gconstpointer a,
                 gconstpointer b)
{
  return json_equal ((JsonNode *) a, (JsonNode *) b, 0);
}

/* Type of a JSON value as a set of TypeBits (integral numbers are both
 * "number" and "integer"). */
static guint
instance_type (JsonNode *node,
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
      if (num_from_node (node, num))
        return num_is_integral (num) ? (T_NUMBER | T_INTEGER) : T_NUMBER;
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

static const char *
instance_type_name (guint bits)
{
  if (bits & T_INTEGER)
    return "integer";
  for (guint i = 0; i < G_N_ELEMENTS (type_names); i++)
    if (bits & type_names[i].bit)
      return type_names[i].name;
  return "unknown";
}

static const char *
json_kind_name (JsonNode *node)
{
  Num num;

  return instance_type_name (instance_type (node, &num));
}

/* ------------------------------------------------------------------------ */
/* Compilation                                                               */

typedef enum {
  KW_UNKNOWN,
  KW_IGNORED,
  KW_UNSUPPORTED,
  KW_TYPE,
  KW_ENUM,
  KW_CONST,
  KW_MINIMUM,
  KW_MAXIMUM,
  KW_EXCL_MIN,
  KW_EXCL_MAX,
  KW_MULTIPLE_OF,
  KW_MIN_LENGTH,
  KW_MAX_LENGTH,
  KW_PATTERN,
  KW_PROPERTIES,
  KW_REQUIRED,
  KW_ADDITIONAL,
  KW_MIN_PROPS,
  KW_MAX_PROPS,
  KW_ITEMS,
  KW_MIN_ITEMS,
  KW_MAX_ITEMS,
  KW_UNIQUE,
  KW_ALL_OF,
  KW_ANY_OF,
  KW_ONE_OF,
  KW_NOT,
  KW_REF,
  KW_DEFS,
} Keyword;

static const struct {
  const char *name;
  Keyword     kw;
} keywords[] = {
  { "type", KW_TYPE },
  { "enum", KW_ENUM },
  { "const", KW_CONST },
  { "minimum", KW_MINIMUM },
  { "maximum", KW_MAXIMUM },
  { "exclusiveMinimum", KW_EXCL_MIN },
  { "exclusiveMaximum", KW_EXCL_MAX },
  { "multipleOf", KW_MULTIPLE_OF },
  { "minLength", KW_MIN_LENGTH },
  { "maxLength", KW_MAX_LENGTH },
  { "pattern", KW_PATTERN },
  { "properties", KW_PROPERTIES },
  { "required", KW_REQUIRED },
  { "additionalProperties", KW_ADDITIONAL },
  { "minProperties", KW_MIN_PROPS },
  { "maxProperties", KW_MAX_PROPS },
  { "items", KW_ITEMS },
  { "minItems", KW_MIN_ITEMS },
  { "maxItems", KW_MAX_ITEMS },
  { "uniqueItems", KW_UNIQUE },
  { "allOf", KW_ALL_OF },
  { "anyOf", KW_ANY_OF },
  { "oneOf", KW_ONE_OF },
  { "not", KW_NOT },
  { "$ref", KW_REF },
  { "$defs", KW_DEFS },
  { "definitions", KW_DEFS },
  /* annotations and identifiers: no effect on validation */
  { "$schema", KW_IGNORED },
  { "$id", KW_IGNORED },
  { "$comment", KW_IGNORED },
  { "$anchor", KW_IGNORED },
  { "$dynamicAnchor", KW_IGNORED },
  { "$vocabulary", KW_IGNORED },
  { "title", KW_IGNORED },
  { "description", KW_IGNORED },
  { "default", KW_IGNORED },
  { "examples", KW_IGNORED },
  { "format", KW_IGNORED },
  { "deprecated", KW_IGNORED },
  { "readOnly", KW_IGNORED },
  { "writeOnly", KW_IGNORED },
  { "contentEncoding", KW_IGNORED },
  { "contentMediaType", KW_IGNORED },
  { "contentSchema", KW_IGNORED },
  /* valid JSON Schema that this validator does not implement yet: fail
   * loudly rather than accept everything */
  { "if", KW_UNSUPPORTED },
  { "then", KW_UNSUPPORTED },
  { "else", KW_UNSUPPORTED },
  { "prefixItems", KW_UNSUPPORTED },
  { "contains", KW_UNSUPPORTED },
  { "minContains", KW_UNSUPPORTED },
  { "maxContains", KW_UNSUPPORTED },
  { "dependentRequired", KW_UNSUPPORTED },
  { "dependentSchemas", KW_UNSUPPORTED },
  { "propertyNames", KW_UNSUPPORTED },
  { "patternProperties", KW_UNSUPPORTED },
  { "unevaluatedProperties", KW_UNSUPPORTED },
  { "unevaluatedItems", KW_UNSUPPORTED },
  { "$dynamicRef", KW_UNSUPPORTED },
  { "$recursiveRef", KW_UNSUPPORTED },   /* draft 2019-09 */
  { "dependencies", KW_UNSUPPORTED },    /* draft 7 */
  { "additionalItems", KW_UNSUPPORTED }, /* draft 2019-09 */
};

static Keyword
lookup_keyword (const char *name)
{
  for (guint i = 0; i < G_N_ELEMENTS (keywords); i++)
    if (strcmp (keywords[i].name, name) == 0)
      return keywords[i].kw;
  return KW_UNKNOWN;
}

typedef struct {
  SchemaNode *node;
  char       *location; /* pointer of the $ref keyword */
  char       *target;   /* JSON Pointer the reference resolves to */
  char       *text;     /* the $ref value, for messages */
} PendingRef;

typedef struct {
  SluiceSchema *schema;
  JsonNode     *document;
  const char   *root_id;  /* the root's $id without fragment, or NULL */
  GArray       *pending;  /* PendingRef */
  GError       *error;
} Compiler;

static void
pending_ref_clear (gpointer data)
{
  PendingRef *pr = data;

  g_free (pr->location);
  g_free (pr->target);
  g_free (pr->text);
}

static gboolean compile_fail (Compiler   *cc,
                              const char *location,
                              const char *format,
                              ...) G_GNUC_PRINTF (3, 4);

static gboolean
compile_fail (Compiler   *cc,
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

static SchemaNode *compile_node (Compiler    *cc,
                                 JsonNode    *json,
                                 char        *path,
                                 const char  *base,
                                 guint        depth);

static gboolean
compile_number (Compiler   *cc,
                const char *location,
                const char *keyword,
                JsonNode   *value,
                Num        *out)
{
  if (JSON_NODE_HOLDS_VALUE (value) && json_node_get_value_type (value) == G_TYPE_BOOLEAN &&
      g_str_has_prefix (keyword, "exclusive"))
    return compile_fail (cc, location,
                         "'%s' must be a number (the boolean form is draft 4 syntax)", keyword);
  if (!num_from_node (value, out))
    return compile_fail (cc, location, "'%s' must be a number, got %s", keyword, json_kind_name (value));
  if (!isfinite (out->d))
    return compile_fail (cc, location, "'%s' must be a finite number", keyword);
  return TRUE;
}

static gboolean
compile_count (Compiler   *cc,
               const char *location,
               const char *keyword,
               JsonNode   *value,
               guint64    *out)
{
  Num num;

  if (!num_from_node (value, &num) || !num_is_integral (&num) || (num.is_int ? num.i < 0 : num.d < 0))
    return compile_fail (cc, location, "'%s' must be a non-negative integer", keyword);
  if (num.is_int)
    *out = (guint64) num.i;
  else
    *out = num.d >= 1.8e19 ? G_MAXUINT64 : (guint64) num.d;
  return TRUE;
}

static gboolean
compile_type (Compiler   *cc,
              SchemaNode *n,
              const char *location,
              JsonNode   *value)
{
  JsonArray *array = NULL;
  guint len = 1;

  if (JSON_NODE_HOLDS_ARRAY (value))
    {
      array = json_node_get_array (value);
      len = json_array_get_length (array);
    }
  else if (!JSON_NODE_HOLDS_VALUE (value) || json_node_get_value_type (value) != G_TYPE_STRING)
    return compile_fail (cc, location, "'type' must be a string or an array of strings");

  for (guint i = 0; i < len; i++)
    {
      JsonNode *element = array != NULL ? json_array_get_element (array, i) : value;
      g_autofree char *where = NULL;
      const char *name;
      guint t;

      if (array != NULL)
        where = g_strdup_printf ("%s/%u", location, i);
      if (!JSON_NODE_HOLDS_VALUE (element) || json_node_get_value_type (element) != G_TYPE_STRING)
        return compile_fail (cc, where != NULL ? where : location,
                             "'type' must be a string or an array of strings");
      name = json_node_get_string (element);
      for (t = 0; t < G_N_ELEMENTS (type_names); t++)
        if (strcmp (type_names[t].name, name) == 0)
          break;
      if (t == G_N_ELEMENTS (type_names))
        return compile_fail (cc, where != NULL ? where : location,
                             "unknown type '%s' (expected null, boolean, object, array, number, string or integer)",
                             name);
      if (n->type_mask & type_names[t].bit)
        return compile_fail (cc, where != NULL ? where : location, "type '%s' is listed twice", name);
      n->type_mask |= type_names[t].bit;
      n->type_order[n->n_types++] = (guint8) t;
    }
  n->has |= HAS_TYPE;
  return TRUE;
}

static gboolean
compile_enum (Compiler   *cc,
              SchemaNode *n,
              const char *location,
              JsonNode   *value)
{
  JsonArray *array;
  guint n_strings = 0;

  if (!JSON_NODE_HOLDS_ARRAY (value))
    return compile_fail (cc, location, "'enum' must be an array");
  array = json_node_get_array (value);
  n->n_enum = json_array_get_length (array);
  n->enum_values = g_new0 (JsonNode *, MAX (n->n_enum, 1));
  for (guint i = 0; i < n->n_enum; i++)
    {
      n->enum_values[i] = json_node_copy (json_array_get_element (array, i));
      if (JSON_NODE_HOLDS_VALUE (n->enum_values[i]) &&
          json_node_get_value_type (n->enum_values[i]) == G_TYPE_STRING)
        n_strings++;
    }
  if (n_strings > SMALL_SET)
    {
      n->enum_strings = g_hash_table_new (g_str_hash, g_str_equal);
      for (guint i = 0; i < n->n_enum; i++)
        if (JSON_NODE_HOLDS_VALUE (n->enum_values[i]) &&
            json_node_get_value_type (n->enum_values[i]) == G_TYPE_STRING)
          g_hash_table_add (n->enum_strings, (gpointer) json_node_get_string (n->enum_values[i]));
    }
  n->has |= HAS_ENUM;
  return TRUE;
}

static gboolean
compile_pattern (Compiler   *cc,
                 SchemaNode *n,
                 const char *location,
                 JsonNode   *value)
{
  g_autoptr(GError) local_error = NULL;

  if (!JSON_NODE_HOLDS_VALUE (value) || json_node_get_value_type (value) != G_TYPE_STRING)
    return compile_fail (cc, location, "'pattern' must be a string");
  n->pattern_source = g_strdup (json_node_get_string (value));
  n->pattern = sluice_regex_new (n->pattern_source, &local_error);
  if (n->pattern == NULL)
    return compile_fail (cc, location, "invalid regular expression: %s", local_error->message);
  n->has |= HAS_PATTERN;
  return TRUE;
}

static gboolean
compile_schema_map (Compiler    *cc,
                    SchemaNode  *n,
                    const char  *location,
                    const char  *keyword,
                    JsonNode    *value,
                    const char  *base,
                    guint        depth,
                    gboolean     keep)
{
  JsonObject *object;
  JsonObjectIter iter;
  const char *name;
  JsonNode *member;
  guint i = 0;

  if (!JSON_NODE_HOLDS_OBJECT (value))
    return compile_fail (cc, location, "'%s' must be an object of schemas", keyword);
  object = json_node_get_object (value);

  if (keep)
    {
      n->n_props = json_object_get_size (object);
      n->props = g_new0 (Prop, MAX (n->n_props, 1));
    }

  json_object_iter_init_ordered (&iter, object);
  while (json_object_iter_next_ordered (&iter, &name, &member))
    {
      SchemaNode *child = compile_node (cc, member, sluice_json_pointer_append (location, name), base, depth + 1);

      if (child == NULL)
        return FALSE;
      if (keep)
        {
          n->props[i].name = g_strdup (name);
          n->props[i].schema = child;
          i++;
        }
    }

  if (keep && n->n_props > SMALL_SET)
    {
      n->prop_index = g_hash_table_new (g_str_hash, g_str_equal);
      for (i = 0; i < n->n_props; i++)
        g_hash_table_insert (n->prop_index, n->props[i].name, &n->props[i]);
    }
  return TRUE;
}

static gboolean
compile_schema_list (Compiler     *cc,
                     const char   *location,
                     const char   *keyword,
                     JsonNode     *value,
                     const char   *base,
                     guint         depth,
                     SchemaNode ***out,
                     guint        *n_out)
{
  JsonArray *array;
  guint len;

  if (!JSON_NODE_HOLDS_ARRAY (value) || json_array_get_length (json_node_get_array (value)) == 0)
    return compile_fail (cc, location, "'%s' must be a non-empty array of schemas", keyword);
  array = json_node_get_array (value);
  len = json_array_get_length (array);
  *out = g_new0 (SchemaNode *, len);
  *n_out = len;
  for (guint i = 0; i < len; i++)
    {
      (*out)[i] = compile_node (cc, json_array_get_element (array, i),
                                g_strdup_printf ("%s/%u", location, i), base, depth + 1);
      if ((*out)[i] == NULL)
        return FALSE;
    }
  return TRUE;
}

static gboolean
compile_required (Compiler   *cc,
                  SchemaNode *n,
                  const char *location,
                  JsonNode   *value)
{
  JsonArray *array;
  guint len;

  if (!JSON_NODE_HOLDS_ARRAY (value))
    return compile_fail (cc, location, "'required' must be an array of strings");
  array = json_node_get_array (value);
  len = json_array_get_length (array);
  n->required = g_new0 (char *, len + 1);
  for (guint i = 0; i < len; i++)
    {
      JsonNode *element = json_array_get_element (array, i);

      if (!JSON_NODE_HOLDS_VALUE (element) || json_node_get_value_type (element) != G_TYPE_STRING)
        {
          g_autofree char *where = g_strdup_printf ("%s/%u", location, i);
          return compile_fail (cc, where, "'required' must be an array of strings");
        }
      if (g_strv_contains ((const char * const *) n->required, json_node_get_string (element)))
        {
          g_autofree char *where = g_strdup_printf ("%s/%u", location, i);
          return compile_fail (cc, where, "'%s' is listed twice in 'required'", json_node_get_string (element));
        }
      n->required[i] = g_strdup (json_node_get_string (element));
      n->n_required++;
    }
  n->has |= HAS_REQUIRED;
  return TRUE;
}

/* Records a `$ref` to link once the whole document is compiled. */
static gboolean
compile_ref (Compiler   *cc,
             SchemaNode *n,
             const char *location,
             JsonNode   *value,
             const char *base)
{
  const char *text, *hash;
  g_autofree char *decoded = NULL;
  PendingRef pr = { 0 };

  if (!JSON_NODE_HOLDS_VALUE (value) || json_node_get_value_type (value) != G_TYPE_STRING)
    return compile_fail (cc, location, "'$ref' must be a string");
  text = json_node_get_string (value);
  hash = strchr (text, '#');

  /* "#…" is local; so is "<the root's $id>#…" */
  if (hash == NULL ||
      (hash != text &&
       (cc->root_id == NULL || strncmp (text, cc->root_id, (gsize) (hash - text)) != 0 ||
        cc->root_id[hash - text] != '\0')))
    return compile_fail (cc, location, "keyword '$ref' with a remote target ('%s') is not supported yet", text);
  if (hash != text)
    base = "";

  if (hash[1] != '\0' && hash[1] != '/')
    return compile_fail (cc, location, "'$ref' to an anchor ('%s') is not supported yet", text);
  decoded = g_uri_unescape_string (hash + 1, NULL);
  if (decoded == NULL)
    return compile_fail (cc, location, "'$ref' value '%s' is not a valid URI fragment", text);

  pr.node = n;
  pr.location = g_strdup (location);
  pr.target = g_strconcat (base, decoded, NULL);
  pr.text = g_strdup (text);
  g_array_append_val (cc->pending, pr);
  n->has |= HAS_REF;
  return TRUE;
}

static gboolean
compile_keyword (Compiler   *cc,
                 SchemaNode *n,
                 const char *name,
                 JsonNode   *value,
                 const char *base,
                 guint       depth)
{
  Keyword kw = lookup_keyword (name);
  g_autofree char *loc = NULL;

  if (kw == KW_UNKNOWN || kw == KW_IGNORED)
    return TRUE;  /* unknown keywords are annotations (2020-12 §4.3.1) */

  loc = sluice_json_pointer_append (n->path, name);

  switch (kw)
    {
    case KW_UNSUPPORTED:
      return compile_fail (cc, loc, "keyword '%s' is not supported yet", name);

    case KW_TYPE:
      return compile_type (cc, n, loc, value);

    case KW_ENUM:
      return compile_enum (cc, n, loc, value);

    case KW_CONST:
      n->const_value = json_node_copy (value);
      n->has |= HAS_CONST;
      return TRUE;

    case KW_MINIMUM:
      n->has |= HAS_MINIMUM;
      return compile_number (cc, loc, name, value, &n->minimum);

    case KW_MAXIMUM:
      n->has |= HAS_MAXIMUM;
      return compile_number (cc, loc, name, value, &n->maximum);

    case KW_EXCL_MIN:
      n->has |= HAS_EXCL_MIN;
      return compile_number (cc, loc, name, value, &n->exclusive_minimum);

    case KW_EXCL_MAX:
      n->has |= HAS_EXCL_MAX;
      return compile_number (cc, loc, name, value, &n->exclusive_maximum);

    case KW_MULTIPLE_OF:
      n->has |= HAS_MULTIPLE_OF;
      if (!compile_number (cc, loc, name, value, &n->multiple_of))
        return FALSE;
      if (n->multiple_of.d <= 0)
        return compile_fail (cc, loc, "'multipleOf' must be greater than 0");
      return TRUE;

    case KW_MIN_LENGTH:
      n->has |= HAS_MIN_LENGTH;
      return compile_count (cc, loc, name, value, &n->min_length);

    case KW_MAX_LENGTH:
      n->has |= HAS_MAX_LENGTH;
      return compile_count (cc, loc, name, value, &n->max_length);

    case KW_PATTERN:
      return compile_pattern (cc, n, loc, value);

    case KW_PROPERTIES:
      n->has |= HAS_PROPERTIES;
      return compile_schema_map (cc, n, loc, name, value, base, depth, TRUE);

    case KW_REQUIRED:
      return compile_required (cc, n, loc, value);

    case KW_ADDITIONAL:
      n->has |= HAS_ADDITIONAL;
      n->additional = compile_node (cc, value, g_steal_pointer (&loc), base, depth + 1);
      return n->additional != NULL;

    case KW_MIN_PROPS:
      n->has |= HAS_MIN_PROPS;
      return compile_count (cc, loc, name, value, &n->min_props);

    case KW_MAX_PROPS:
      n->has |= HAS_MAX_PROPS;
      return compile_count (cc, loc, name, value, &n->max_props);

    case KW_ITEMS:
      if (JSON_NODE_HOLDS_ARRAY (value))
        return compile_fail (cc, loc,
                             "'items' must be a schema; the array form is draft 2019-09 syntax "
                             "(its replacement 'prefixItems' is not supported yet)");
      n->has |= HAS_ITEMS;
      n->items = compile_node (cc, value, g_steal_pointer (&loc), base, depth + 1);
      return n->items != NULL;

    case KW_MIN_ITEMS:
      n->has |= HAS_MIN_ITEMS;
      return compile_count (cc, loc, name, value, &n->min_items);

    case KW_MAX_ITEMS:
      n->has |= HAS_MAX_ITEMS;
      return compile_count (cc, loc, name, value, &n->max_items);

    case KW_UNIQUE:
      if (!JSON_NODE_HOLDS_VALUE (value) || json_node_get_value_type (value) != G_TYPE_BOOLEAN)
        return compile_fail (cc, loc, "'uniqueItems' must be a boolean");
      if (json_node_get_boolean (value))
        n->has |= HAS_UNIQUE;
      return TRUE;

    case KW_ALL_OF:
      n->has |= HAS_ALL_OF;
      return compile_schema_list (cc, loc, name, value, base, depth, &n->all_of, &n->n_all_of);

    case KW_ANY_OF:
      n->has |= HAS_ANY_OF;
      return compile_schema_list (cc, loc, name, value, base, depth, &n->any_of, &n->n_any_of);

    case KW_ONE_OF:
      n->has |= HAS_ONE_OF;
      return compile_schema_list (cc, loc, name, value, base, depth, &n->one_of, &n->n_one_of);

    case KW_NOT:
      n->has |= HAS_NOT;
      n->not = compile_node (cc, value, g_steal_pointer (&loc), base, depth + 1);
      return n->not != NULL;

    case KW_REF:
      return compile_ref (cc, n, loc, value, base);

    case KW_DEFS:
      return compile_schema_map (cc, n, loc, name, value, base, depth, FALSE);

    case KW_UNKNOWN:
    case KW_IGNORED:
    default:
      g_assert_not_reached ();
    }
}

/* Compiles the subschema @json found at @path (transfer full).  @base is the
 * pointer of the enclosing schema resource (the nearest `$id`), which local
 * `$ref`s are relative to. */
static SchemaNode *
compile_node (Compiler   *cc,
              JsonNode   *json,
              char       *path,
              const char *base,
              guint       depth)
{
  SchemaNode *n;
  JsonObject *object;
  JsonObjectIter iter;
  const char *name;
  JsonNode *value;

  n = g_hash_table_lookup (cc->schema->by_path, path);
  if (n != NULL)
    {
      g_free (path);
      return n;
    }

  if (depth > MAX_SCHEMA_DEPTH)
    {
      compile_fail (cc, path, "the schema nests deeper than %u levels", MAX_SCHEMA_DEPTH);
      g_free (path);
      return NULL;
    }

  n = g_new0 (SchemaNode, 1);
  n->path = path;
  g_ptr_array_add (cc->schema->nodes, n);
  g_hash_table_insert (cc->schema->by_path, n->path, n);

  if (JSON_NODE_HOLDS_VALUE (json) && json_node_get_value_type (json) == G_TYPE_BOOLEAN)
    {
      n->is_false = !json_node_get_boolean (json);
      return n;
    }
  if (!JSON_NODE_HOLDS_OBJECT (json))
    {
      compile_fail (cc, n->path, "a schema must be an object or a boolean, got %s", json_kind_name (json));
      return NULL;
    }

  object = json_node_get_object (json);

  /* an embedded resource: local references inside it are relative to it */
  if (depth > 0)
    {
      JsonNode *id = json_object_get_member (object, "$id");

      if (id != NULL && JSON_NODE_HOLDS_VALUE (id) && json_node_get_value_type (id) == G_TYPE_STRING &&
          json_node_get_string (id)[0] != '#')
        base = n->path;
    }

  json_object_iter_init_ordered (&iter, object);
  while (json_object_iter_next_ordered (&iter, &name, &value))
    if (!compile_keyword (cc, n, name, value, base, depth))
      return NULL;

  return n;
}

static gboolean
link_refs (Compiler *cc)
{
  /* resolving can compile new subschemas, which can add pending refs */
  for (guint i = 0; i < cc->pending->len; i++)
    {
      PendingRef *pr = &g_array_index (cc->pending, PendingRef, i);
      SchemaNode *target = g_hash_table_lookup (cc->schema->by_path, pr->target);

      if (target == NULL)
        {
          JsonNode *json = sluice_json_pointer_resolve (cc->document, pr->target);

          if (json == NULL)
            return compile_fail (cc, pr->location, "'$ref' target '%s' does not exist", pr->text);
          target = compile_node (cc, json, g_strdup (pr->target), "", 0);
          if (target == NULL)
            return FALSE;
          pr = &g_array_index (cc->pending, PendingRef, i);  /* the array may have moved */
        }
      pr->node->ref = target;
    }
  return TRUE;
}

/* A cycle of $ref/allOf/anyOf/oneOf/not edges would re-validate the same
 * value forever: reject it at compile time. */
static gboolean
check_cycles (Compiler   *cc,
              SchemaNode *n)
{
  SchemaNode *edges[2] = { n->ref, n->not };
  const char *edge_names[2] = { "$ref", "not" };
  struct {
    SchemaNode **list;
    guint        len;
    const char  *name;
  } lists[3] = {
    { n->all_of, n->n_all_of, "allOf" },
    { n->any_of, n->n_any_of, "anyOf" },
    { n->one_of, n->n_one_of, "oneOf" },
  };

  if (n->mark == 2)
    return TRUE;
  n->mark = 1;

  for (guint e = 0; e < 2; e++)
    {
      if (edges[e] == NULL)
        continue;
      if (edges[e]->mark == 1)
        {
          g_autofree char *loc = sluice_json_pointer_append (n->path, edge_names[e]);
          return compile_fail (cc, loc,
                               "'%s' leads back to '%s' without descending into the value, which would loop forever",
                               edge_names[e], edges[e]->path[0] != '\0' ? edges[e]->path : "#");
        }
      if (!check_cycles (cc, edges[e]))
        return FALSE;
    }
  for (guint l = 0; l < G_N_ELEMENTS (lists); l++)
    for (guint i = 0; i < lists[l].len; i++)
      {
        SchemaNode *child = lists[l].list[i];

        if (child->mark == 1)
          {
            g_autofree char *loc = g_strdup_printf ("%s/%s/%u", n->path, lists[l].name, i);
            return compile_fail (cc, loc,
                                 "'%s' leads back to '%s' without descending into the value, which would loop forever",
                                 lists[l].name, child->path[0] != '\0' ? child->path : "#");
          }
        if (!check_cycles (cc, child))
          return FALSE;
      }

  n->mark = 2;
  return TRUE;
}

/**
 * sluice_schema_new:
 * @schema: the schema document (an object or a boolean)
 * @error: return location for a %SLUICE_SCHEMA_ERROR_INVALID error
 *
 * Compiles a JSON Schema.  Fails when the schema is malformed, uses a
 * keyword that is valid JSON Schema but not supported yet, or has a `$ref`
 * that is remote, dangling, or loops without descending into the value.
 * The error message starts with the JSON Pointer of the offending location.
 * @schema is not referenced after this returns.
 *
 * Returns: (transfer full) (nullable): the compiled schema
 */
SluiceSchema *
sluice_schema_new (JsonNode  *schema,
                   GError   **error)
{
  g_autoptr(SluiceSchema) self = NULL;
  g_autofree char *root_id = NULL;
  Compiler cc = { 0 };
  gboolean ok;

  g_return_val_if_fail (schema != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  self = g_new0 (SluiceSchema, 1);
  g_atomic_ref_count_init (&self->ref_count);
  self->nodes = g_ptr_array_new_with_free_func (schema_node_free);
  self->by_path = g_hash_table_new (g_str_hash, g_str_equal);

  if (JSON_NODE_HOLDS_OBJECT (schema))
    {
      JsonNode *id = json_object_get_member (json_node_get_object (schema), "$id");

      if (id != NULL && JSON_NODE_HOLDS_VALUE (id) && json_node_get_value_type (id) == G_TYPE_STRING)
        {
          const char *text = json_node_get_string (id);
          const char *hash = strchr (text, '#');

          root_id = hash != NULL ? g_strndup (text, (gsize) (hash - text)) : g_strdup (text);
        }
    }

  cc.schema = self;
  cc.document = schema;
  cc.root_id = root_id;
  cc.pending = g_array_new (FALSE, TRUE, sizeof (PendingRef));
  g_array_set_clear_func (cc.pending, pending_ref_clear);

  self->root = compile_node (&cc, schema, g_strdup (""), "", 0);
  ok = self->root != NULL && link_refs (&cc);
  for (guint i = 0; ok && i < self->nodes->len; i++)
    ok = check_cycles (&cc, g_ptr_array_index (self->nodes, i));

  g_array_unref (cc.pending);
  if (!ok)
    {
      g_propagate_error (error, cc.error);
      return NULL;
    }
  return g_steal_pointer (&self);
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
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) local_error = NULL;

  g_return_val_if_fail (json != NULL, NULL);

  if (!json_parser_load_from_data (parser, json, -1, &local_error))
    {
      g_set_error (error, SLUICE_SCHEMA_ERROR, SLUICE_SCHEMA_ERROR_INVALID,
                   "the schema is not valid JSON: %s", local_error->message);
      return NULL;
    }
  return sluice_schema_new (json_parser_get_root (parser), error);
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

/* ------------------------------------------------------------------------ */
/* Messages (only built when a violation is recorded)                        */

static char *
type_message (const SchemaNode *n,
              guint             itype)
{
  GString *s = g_string_new ("expected ");

  for (guint i = 0; i < n->n_types; i++)
    {
      if (i > 0)
        g_string_append (s, i + 1 == n->n_types ? " or " : ", ");
      g_string_append (s, type_names[n->type_order[i]].name);
    }
  if (n->n_types == 0)
    g_string_append (s, "nothing");
  g_string_append_printf (s, ", got %s", instance_type_name (itype));
  return g_string_free (s, FALSE);
}

static void
append_schema_value (GString  *s,
                     JsonNode *value,
                     gboolean  quote_strings)
{
  if (!quote_strings && JSON_NODE_HOLDS_VALUE (value) && json_node_get_value_type (value) == G_TYPE_STRING)
    g_string_append (s, json_node_get_string (value));
  else
    {
      g_autofree char *text = sluice_json_to_string (value);

      g_string_append (s, text);
    }
}

static char *
enum_message (const SchemaNode *n)
{
  GString *s = g_string_new ("value is not one of: ");
  gboolean all_strings = TRUE;

  /* Strings are quoted only when they could be mistaken for other values. */
  for (guint i = 0; i < n->n_enum; i++)
    all_strings = all_strings && JSON_NODE_HOLDS_VALUE (n->enum_values[i]) &&
                  json_node_get_value_type (n->enum_values[i]) == G_TYPE_STRING;
  for (guint i = 0; i < n->n_enum && i < LIST_CAP; i++)
    {
      if (i > 0)
        g_string_append (s, ", ");
      append_schema_value (s, n->enum_values[i], !all_strings);
    }
  if (n->n_enum > LIST_CAP)
    g_string_append (s, ", …");
  return g_string_free (s, FALSE);
}

static char *
const_message (const SchemaNode *n)
{
  GString *s = g_string_new ("value is not equal to the constant ");

  append_schema_value (s, n->const_value, TRUE);
  return g_string_free (s, FALSE);
}

static guint
levenshtein (const gunichar *a,
             glong           la,
             const gunichar *b,
             glong           lb)
{
  g_autofree guint *row = g_new (guint, lb + 1);

  for (glong j = 0; j <= lb; j++)
    row[j] = (guint) j;
  for (glong i = 1; i <= la; i++)
    {
      guint diagonal = row[0];

      row[0] = (guint) i;
      for (glong j = 1; j <= lb; j++)
        {
          guint above = row[j];
          guint cost = a[i - 1] == b[j - 1] ? 0 : 1;

          row[j] = MIN (MIN (row[j] + 1, row[j - 1] + 1), diagonal + cost);
          diagonal = above;
        }
    }
  return row[lb];
}

static char *
unknown_property_message (const SchemaNode *n,
                          const char       *name)
{
  g_autofree gunichar *wanted = NULL;
  glong wanted_len = 0;
  const char *best = NULL;
  guint best_distance = G_MAXUINT;
  GString *s;

  if (n->n_props == 0)
    return g_strdup_printf ("unknown property '%s'; no properties are allowed here", name);

  wanted = g_utf8_to_ucs4_fast (name, -1, &wanted_len);
  if (wanted_len <= 256)
    {
      guint limit = MAX (2, (guint) wanted_len / 3);

      for (guint i = 0; i < n->n_props; i++)
        {
          glong len = 0;
          g_autofree gunichar *candidate = g_utf8_to_ucs4_fast (n->props[i].name, -1, &len);
          guint d = levenshtein (wanted, wanted_len, candidate, len);

          if (d <= limit && d < best_distance)
            {
              best = n->props[i].name;
              best_distance = d;
            }
        }
    }
  if (best != NULL)
    return g_strdup_printf ("unknown property '%s'; did you mean '%s'?", name, best);

  s = g_string_new (NULL);
  g_string_append_printf (s, "unknown property '%s'; expected one of: ", name);
  for (guint i = 0; i < n->n_props && i < LIST_CAP; i++)
    {
      if (i > 0)
        g_string_append (s, ", ");
      g_string_append (s, n->props[i].name);
    }
  if (n->n_props > LIST_CAP)
    g_string_append (s, ", …");
  return g_string_free (s, FALSE);
}

/* ------------------------------------------------------------------------ */
/* Validation                                                                */

/* The instance path as a chain of stack frames; a string only on failure. */
typedef struct _PathFrame PathFrame;
struct _PathFrame {
  const PathFrame *parent;
  const char      *key;    /* member name, or NULL for an array index */
  guint            index;
};

typedef struct {
  GPtrArray *out;     /* NULL: only the verdict matters, stop at the first failure */
  guint      max;
  guint      count;
  guint      frames;
  gboolean   stop;
} Ctx;

static char *
build_instance_path (const PathFrame *path)
{
  g_autoptr(GPtrArray) frames = g_ptr_array_new ();
  GString *s = g_string_new (NULL);

  for (const PathFrame *f = path; f != NULL; f = f->parent)
    g_ptr_array_add (frames, (gpointer) f);
  for (guint i = frames->len; i-- > 0;)
    {
      const PathFrame *f = g_ptr_array_index (frames, i);

      g_string_append_c (s, '/');
      if (f->key != NULL)
        append_escaped_token (s, f->key);
      else
        g_string_append_printf (s, "%u", f->index);
    }
  return g_string_free (s, FALSE);
}

/* Records a violation; returns FALSE when validation should stop. */
static gboolean
add_violation (Ctx              *ctx,
               const SchemaNode *n,
               const char       *keyword,
               const PathFrame  *path,
               char             *message)
{
  SluiceViolation *v;

  if (ctx->out == NULL)
    {
      ctx->stop = TRUE;
      return FALSE;
    }
  v = g_new0 (SluiceViolation, 1);
  v->instance_path = build_instance_path (path);
  v->keyword_path = keyword != NULL ? g_strconcat (n->path, "/", keyword, NULL) : g_strdup (n->path);
  v->message = message;
  g_ptr_array_add (ctx->out, v);
  if (++ctx->count >= ctx->max)
    {
      ctx->stop = TRUE;
      return FALSE;
    }
  return TRUE;
}

/* The message expression is only evaluated when it will be kept. */
#define REPORT(keyword, path_, message_expr)                                         \
  G_STMT_START {                                                                     \
    valid = FALSE;                                                                   \
    if (!add_violation (ctx, n, keyword, path_, ctx->out != NULL ? (message_expr) : NULL)) \
      return FALSE;                                                                  \
  } G_STMT_END

#define CHECK(call)                   \
  G_STMT_START {                      \
    if (!(call))                      \
      {                               \
        valid = FALSE;                \
        if (ctx->stop)                \
          return FALSE;               \
      }                               \
  } G_STMT_END

static gboolean validate_node (const SchemaNode *n,
                               JsonNode         *inst,
                               const PathFrame  *path,
                               guint             depth,
                               Ctx              *ctx);

/* Validates a member or item one level down, guarding the nesting depth. */
static gboolean
descend (const SchemaNode *n,
         JsonNode         *inst,
         const PathFrame  *path,
         guint             depth,
         Ctx              *ctx)
{
  gboolean valid = TRUE;

  if (n->has == 0 && !n->is_false)
    return TRUE;
  /* only containers nest further; a scalar at the limit is harmless */
  if (depth > MAX_INSTANCE_DEPTH && (JSON_NODE_HOLDS_OBJECT (inst) || JSON_NODE_HOLDS_ARRAY (inst)))
    REPORT (NULL, path, g_strdup_printf ("value nests deeper than %u levels", MAX_INSTANCE_DEPTH));
  else
    CHECK (validate_node (n, inst, path, depth, ctx));
  return valid;
}

static gboolean
probe (const SchemaNode *n,
       JsonNode         *inst,
       const PathFrame  *path,
       guint             depth,
       Ctx              *ctx)
{
  Ctx sub = { NULL, 0, 0, ctx->frames, FALSE };

  return validate_node (n, inst, path, depth, &sub);
}

static gboolean
declares_property (const SchemaNode *n,
                   const char       *name)
{
  if (n->prop_index != NULL)
    return g_hash_table_contains (n->prop_index, name);
  for (guint i = 0; i < n->n_props; i++)
    if (strcmp (n->props[i].name, name) == 0)
      return TRUE;
  return FALSE;
}

static gboolean
validate_object (const SchemaNode *n,
                 JsonObject       *object,
                 const PathFrame  *path,
                 guint             depth,
                 Ctx              *ctx)
{
  gboolean valid = TRUE;
  guint size = json_object_get_size (object);

  if ((n->has & HAS_MIN_PROPS) && size < n->min_props)
    REPORT ("minProperties", path,
            g_strdup_printf ("object has fewer than %" G_GUINT64_FORMAT " propert%s",
                             n->min_props, n->min_props == 1 ? "y" : "ies"));
  if ((n->has & HAS_MAX_PROPS) && size > n->max_props)
    REPORT ("maxProperties", path,
            g_strdup_printf ("object has more than %" G_GUINT64_FORMAT " propert%s",
                             n->max_props, n->max_props == 1 ? "y" : "ies"));

  for (guint i = 0; i < n->n_required; i++)
    if (!json_object_has_member (object, n->required[i]))
      REPORT ("required", path, g_strdup_printf ("missing required property '%s'", n->required[i]));

  for (guint i = 0; i < n->n_props; i++)
    {
      JsonNode *member = json_object_get_member (object, n->props[i].name);
      PathFrame child = { path, n->props[i].name, 0 };

      if (member != NULL)
        CHECK (descend (n->props[i].schema, member, &child, depth + 1, ctx));
    }

  if (n->has & HAS_ADDITIONAL)
    {
      JsonObjectIter iter;
      const char *name;
      JsonNode *member;

      json_object_iter_init_ordered (&iter, object);
      while (json_object_iter_next_ordered (&iter, &name, &member))
        {
          PathFrame child = { path, name, 0 };

          if (declares_property (n, name))
            continue;
          if (n->additional->is_false)
            REPORT ("additionalProperties", &child, unknown_property_message (n, name));
          else
            CHECK (descend (n->additional, member, &child, depth + 1, ctx));
        }
    }
  return valid;
}

/* Index pair of the first duplicate (smallest second index), or FALSE. */
static gboolean
find_duplicate (JsonArray *array,
                guint     *first,
                guint     *second)
{
  guint len = json_array_get_length (array);
  g_autoptr(GHashTable) seen = NULL;

  if (len <= 16)
    {
      for (guint j = 1; j < len; j++)
        for (guint i = 0; i < j; i++)
          if (json_equal (json_array_get_element (array, i), json_array_get_element (array, j), 0))
            {
              *first = i;
              *second = j;
              return TRUE;
            }
      return FALSE;
    }

  seen = g_hash_table_new (json_hash_func, json_equal_func);
  for (guint j = 0; j < len; j++)
    {
      JsonNode *element = json_array_get_element (array, j);
      gpointer index;

      if (g_hash_table_lookup_extended (seen, element, NULL, &index))
        {
          *first = GPOINTER_TO_UINT (index);
          *second = j;
          return TRUE;
        }
      g_hash_table_insert (seen, element, GUINT_TO_POINTER (j));
    }
  return FALSE;
}

static gboolean
validate_array (const SchemaNode *n,
                JsonArray        *array,
                const PathFrame  *path,
                guint             depth,
                Ctx              *ctx)
{
  gboolean valid = TRUE;
  guint len = json_array_get_length (array);
  guint first, second;

  if ((n->has & HAS_MIN_ITEMS) && len < n->min_items)
    REPORT ("minItems", path,
            g_strdup_printf ("array has fewer than %" G_GUINT64_FORMAT " item%s",
                             n->min_items, n->min_items == 1 ? "" : "s"));
  if ((n->has & HAS_MAX_ITEMS) && len > n->max_items)
    REPORT ("maxItems", path,
            g_strdup_printf ("array has more than %" G_GUINT64_FORMAT " item%s",
                             n->max_items, n->max_items == 1 ? "" : "s"));
  if ((n->has & HAS_UNIQUE) && find_duplicate (array, &first, &second))
    REPORT ("uniqueItems", path, g_strdup_printf ("items %u and %u are equal", first, second));

  if (n->has & HAS_ITEMS)
    for (guint i = 0; i < len; i++)
      {
        PathFrame child = { path, NULL, i };

        CHECK (descend (n->items, json_array_get_element (array, i), &child, depth + 1, ctx));
      }
  return valid;
}

static gboolean
validate_string (const SchemaNode *n,
                 const char       *str,
                 const PathFrame  *path,
                 Ctx              *ctx)
{
  gboolean valid = TRUE;
  gsize bytes = strlen (str);

  /* a code point takes 1 to 4 bytes: most strings are decided by their size */
  if ((n->has & HAS_MIN_LENGTH) && (bytes + 3) / 4 < n->min_length &&
      (bytes < n->min_length || (guint64) g_utf8_strlen (str, (gssize) bytes) < n->min_length))
    REPORT ("minLength", path,
            g_strdup_printf ("string is shorter than %" G_GUINT64_FORMAT " character%s",
                             n->min_length, n->min_length == 1 ? "" : "s"));
  if ((n->has & HAS_MAX_LENGTH) && bytes > n->max_length &&
      (guint64) g_utf8_strlen (str, (gssize) bytes) > n->max_length)
    REPORT ("maxLength", path,
            g_strdup_printf ("string is longer than %" G_GUINT64_FORMAT " character%s",
                             n->max_length, n->max_length == 1 ? "" : "s"));
  if ((n->has & HAS_PATTERN) && !sluice_regex_match (n->pattern, str, bytes))
    REPORT ("pattern", path, g_strdup_printf ("string does not match the pattern '%s'", n->pattern_source));
  return valid;
}

static gboolean
validate_number (const SchemaNode *n,
                 const Num        *num,
                 const PathFrame  *path,
                 Ctx              *ctx)
{
  gboolean valid = TRUE;
  char a[NUM_BUF], b[NUM_BUF];

  if ((n->has & HAS_MINIMUM) && num_cmp (num, &n->minimum) < 0)
    REPORT ("minimum", path, g_strdup_printf ("%s is less than the minimum %s",
                                              format_num (a, num), format_num (b, &n->minimum)));
  if ((n->has & HAS_MAXIMUM) && num_cmp (num, &n->maximum) > 0)
    REPORT ("maximum", path, g_strdup_printf ("%s is greater than the maximum %s",
                                              format_num (a, num), format_num (b, &n->maximum)));
  if ((n->has & HAS_EXCL_MIN) && num_cmp (num, &n->exclusive_minimum) <= 0)
    REPORT ("exclusiveMinimum", path,
            g_strdup_printf ("%s is not greater than the exclusive minimum %s",
                             format_num (a, num), format_num (b, &n->exclusive_minimum)));
  if ((n->has & HAS_EXCL_MAX) && num_cmp (num, &n->exclusive_maximum) >= 0)
    REPORT ("exclusiveMaximum", path,
            g_strdup_printf ("%s is not less than the exclusive maximum %s",
                             format_num (a, num), format_num (b, &n->exclusive_maximum)));
  if ((n->has & HAS_MULTIPLE_OF) && !num_is_multiple (num, &n->multiple_of))
    REPORT ("multipleOf", path, g_strdup_printf ("%s is not a multiple of %s",
                                                 format_num (a, num), format_num (b, &n->multiple_of)));
  return valid;
}

static gboolean
enum_contains (const SchemaNode *n,
               JsonNode         *inst,
               guint             itype)
{
  if ((itype & T_STRING) && n->enum_strings != NULL)
    return g_hash_table_contains (n->enum_strings, json_node_get_string (inst));
  for (guint i = 0; i < n->n_enum; i++)
    if (json_equal (n->enum_values[i], inst, 0))
      return TRUE;
  return FALSE;
}

static char *
alternatives_message (guint matched,
                      guint total)
{
  if (matched > 1)
    return g_strdup_printf ("value matches %u alternatives, expected exactly one", matched);
  if (total == 1)
    return g_strdup ("value does not match the only alternative");
  return g_strdup_printf ("value matches none of the %u alternatives", total);
}

static gboolean
validate_keywords (const SchemaNode *n,
                   JsonNode         *inst,
                   const PathFrame  *path,
                   guint             depth,
                   Ctx              *ctx)
{
  gboolean valid = TRUE;
  Num num = { 0 };
  guint itype = instance_type (inst, &num);

  if ((n->has & HAS_TYPE) && !(itype & n->type_mask))
    {
      /* the node's other keywords would only restate the mismatch */
      REPORT ("type", path, type_message (n, itype));
      return FALSE;
    }

  if ((n->has & HAS_ENUM) && !enum_contains (n, inst, itype))
    REPORT ("enum", path, enum_message (n));
  if ((n->has & HAS_CONST) && !json_equal (n->const_value, inst, 0))
    REPORT ("const", path, const_message (n));

  if ((itype & T_NUMBER) && (n->has & NUMBER_KEYWORDS))
    CHECK (validate_number (n, &num, path, ctx));
  else if ((itype & T_STRING) && (n->has & STRING_KEYWORDS))
    CHECK (validate_string (n, json_node_get_string (inst), path, ctx));
  else if ((itype & T_OBJECT) && (n->has & OBJECT_KEYWORDS))
    CHECK (validate_object (n, json_node_get_object (inst), path, depth, ctx));
  else if ((itype & T_ARRAY) && (n->has & ARRAY_KEYWORDS))
    CHECK (validate_array (n, json_node_get_array (inst), path, depth, ctx));

  for (guint i = 0; i < n->n_all_of; i++)
    CHECK (validate_node (n->all_of[i], inst, path, depth, ctx));

  if (n->has & HAS_ANY_OF)
    {
      gboolean any = FALSE;

      for (guint i = 0; i < n->n_any_of && !any; i++)
        any = probe (n->any_of[i], inst, path, depth, ctx);
      if (!any)
        REPORT ("anyOf", path, alternatives_message (0, n->n_any_of));
    }

  if (n->has & HAS_ONE_OF)
    {
      guint matched = 0;

      /* counting every match costs only on failure-free oneOf, which must
       * check them all anyway */
      for (guint i = 0; i < n->n_one_of; i++)
        if (probe (n->one_of[i], inst, path, depth, ctx))
          matched++;
      if (matched != 1)
        REPORT ("oneOf", path, alternatives_message (matched, n->n_one_of));
    }

  if ((n->has & HAS_NOT) && probe (n->not, inst, path, depth, ctx))
    REPORT ("not", path, g_strdup ("value must not match the schema in 'not'"));

  if (n->ref != NULL)
    CHECK (validate_node (n->ref, inst, path, depth, ctx));

  return valid;
}

static gboolean
validate_node (const SchemaNode *n,
               JsonNode         *inst,
               const PathFrame  *path,
               guint             depth,
               Ctx              *ctx)
{
  gboolean valid = TRUE;

  if (n->is_false)
    {
      REPORT (NULL, path, g_strdup ("no value is allowed here"));
      return FALSE;
    }
  if (n->has == 0)
    return TRUE;
  if (ctx->frames >= MAX_FRAMES)
    {
      REPORT (NULL, path, g_strdup ("the schema nests too deeply to check this value"));
      return FALSE;
    }

  ctx->frames++;
  valid = validate_keywords (n, inst, path, depth, ctx);
  ctx->frames--;
  return valid;
}

/**
 * sluice_schema_validate:
 * @s: a compiled schema
 * @instance: the value to check
 * @violations: (nullable) (element-type SluiceViolation): array to append
 *   violations to (give it sluice_violation_free() as free function), or
 *   %NULL to only get the verdict
 * @max_violations: stop after appending this many; 0 behaves like a %NULL
 *   @violations
 *
 * Validates @instance.  Safe to call from several threads on the same schema.
 * Allocates nothing when the instance is valid.
 *
 * Returns: %TRUE if @instance is valid
 */
gboolean
sluice_schema_validate (SluiceSchema *s,
                        JsonNode     *instance,
                        GPtrArray    *violations,
                        guint         max_violations)
{
  Ctx ctx = { 0 };

  g_return_val_if_fail (s != NULL, FALSE);
  g_return_val_if_fail (instance != NULL, FALSE);

  if (max_violations > 0)
    ctx.out = violations;
  ctx.max = max_violations;
  return validate_node (s->root, instance, NULL, 0, &ctx);
}

/**
 * sluice_schema_check:
 * @s: a compiled schema
 * @instance: the value to check
 * @error: return location for a %SLUICE_SCHEMA_ERROR_VIOLATION error whose
 *   message is "<instance path or "/">: <message>" of the first violation
 *
 * Returns: %TRUE if @instance is valid
 */
gboolean
sluice_schema_check (SluiceSchema  *s,
                     JsonNode      *instance,
                     GError       **error)
{
  g_autoptr(GPtrArray) violations = NULL;
  SluiceViolation *v;

  g_return_val_if_fail (s != NULL, FALSE);
  g_return_val_if_fail (instance != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (error == NULL)
    return sluice_schema_validate (s, instance, NULL, 0);

  violations = g_ptr_array_new_with_free_func ((GDestroyNotify) sluice_violation_free);
  if (sluice_schema_validate (s, instance, violations, 1))
    return TRUE;

  g_assert (violations->len > 0);
  v = g_ptr_array_index (violations, 0);
  g_set_error (error, SLUICE_SCHEMA_ERROR, SLUICE_SCHEMA_ERROR_VIOLATION, "%s: %s",
               v->instance_path[0] != '\0' ? v->instance_path : "/", v->message);
  return FALSE;
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
