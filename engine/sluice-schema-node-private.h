/* sluice-schema-node-private.h — the compiled form of a JSON Schema, shared
 * by the files of the validator (sluice-schema*.c); never installed.
 *
 * sluice-schema.c          JSON Pointer, numbers and equality, the registry,
 *                          the public object's lifetime
 * sluice-schema-compile.c  one subschema: keywords and identifiers
 * sluice-schema-resolve.c  documents, dialects, $ref linking, loops
 * sluice-schema-validate.c validation and its messages
 * sluice-schema-regex.c    ECMA-262 patterns translated for PCRE2
 * sluice-schema-format.c   `format` assertions
 */
#pragma once

#include "sluice-schema-private.h"
#include "sluice-regex-private.h"

G_BEGIN_DECLS

/* Nesting of the instance that validation follows before it gives up with a
 * violation (a deeper recursive descent could overflow the stack). */
#define MAX_INSTANCE_DEPTH 512
/* Nesting of the schema document that compilation follows. */
#define MAX_SCHEMA_DEPTH 512
/* Total validate_node() frames on the stack: allOf/$ref chains that do not
 * descend into the instance also use stack. */
#define MAX_FRAMES 2048
/* Subschema visits one validation may make (about a second of work): an
 * anyOf or oneOf in a recursive schema can otherwise take time exponential
 * in the depth of the instance. */
#define MAX_VISITS (1u << 24)
/* Pattern matching is charged to the same budget: this many of PCRE2's
 * steps (its match limit's unit, about 2 ns each under JIT) cost a
 * visit, so the patterns of one validation take at most 2^29 steps. */
#define REGEX_STEPS_PER_VISIT 32
/* Above this many entries, lookups go through a hash table. */
#define SMALL_SET 8
/* How many names or values a message lists before "…". */
#define LIST_CAP 8
#define NUM_BUF 48

typedef enum {
  T_NULL    = 1 << 0,
  T_BOOLEAN = 1 << 1,
  T_OBJECT  = 1 << 2,
  T_ARRAY   = 1 << 3,
  T_NUMBER  = 1 << 4,
  T_STRING  = 1 << 5,
  T_INTEGER = 1 << 6,  /* set together with T_NUMBER for integral numbers */
} TypeBit;

#define N_TYPE_NAMES 7
typedef struct {
  const char *name;
  TypeBit     bit;
} SchemaTypeName;
G_GNUC_INTERNAL extern const SchemaTypeName schema_type_names[N_TYPE_NAMES];

/* Which keywords a node has (SchemaNode.has). */
#define HAS_TYPE           (G_GUINT64_CONSTANT (1) << 0)
#define HAS_ENUM           (G_GUINT64_CONSTANT (1) << 1)
#define HAS_CONST          (G_GUINT64_CONSTANT (1) << 2)
#define HAS_MINIMUM        (G_GUINT64_CONSTANT (1) << 3)
#define HAS_MAXIMUM        (G_GUINT64_CONSTANT (1) << 4)
#define HAS_EXCL_MIN       (G_GUINT64_CONSTANT (1) << 5)
#define HAS_EXCL_MAX       (G_GUINT64_CONSTANT (1) << 6)
#define HAS_MULTIPLE_OF    (G_GUINT64_CONSTANT (1) << 7)
#define HAS_MIN_LENGTH     (G_GUINT64_CONSTANT (1) << 8)
#define HAS_MAX_LENGTH     (G_GUINT64_CONSTANT (1) << 9)
#define HAS_PATTERN        (G_GUINT64_CONSTANT (1) << 10)
#define HAS_FORMAT         (G_GUINT64_CONSTANT (1) << 11)
#define HAS_PROPERTIES     (G_GUINT64_CONSTANT (1) << 12)
#define HAS_PATTERN_PROPS  (G_GUINT64_CONSTANT (1) << 13)
#define HAS_ADDITIONAL     (G_GUINT64_CONSTANT (1) << 14)
#define HAS_REQUIRED       (G_GUINT64_CONSTANT (1) << 15)
#define HAS_DEP_REQUIRED   (G_GUINT64_CONSTANT (1) << 16)
#define HAS_DEP_SCHEMAS    (G_GUINT64_CONSTANT (1) << 17)
#define HAS_PROPERTY_NAMES (G_GUINT64_CONSTANT (1) << 18)
#define HAS_MIN_PROPS      (G_GUINT64_CONSTANT (1) << 19)
#define HAS_MAX_PROPS      (G_GUINT64_CONSTANT (1) << 20)
#define HAS_PREFIX_ITEMS   (G_GUINT64_CONSTANT (1) << 21)
#define HAS_ITEMS          (G_GUINT64_CONSTANT (1) << 22)
#define HAS_CONTAINS       (G_GUINT64_CONSTANT (1) << 23)
#define HAS_MIN_CONTAINS   (G_GUINT64_CONSTANT (1) << 24)
#define HAS_MAX_CONTAINS   (G_GUINT64_CONSTANT (1) << 25)
#define HAS_MIN_ITEMS      (G_GUINT64_CONSTANT (1) << 26)
#define HAS_MAX_ITEMS      (G_GUINT64_CONSTANT (1) << 27)
#define HAS_UNIQUE         (G_GUINT64_CONSTANT (1) << 28)
#define HAS_ALL_OF         (G_GUINT64_CONSTANT (1) << 29)
#define HAS_ANY_OF         (G_GUINT64_CONSTANT (1) << 30)
#define HAS_ONE_OF         (G_GUINT64_CONSTANT (1) << 31)
#define HAS_NOT            (G_GUINT64_CONSTANT (1) << 32)
#define HAS_IF             (G_GUINT64_CONSTANT (1) << 33)
#define HAS_REF            (G_GUINT64_CONSTANT (1) << 34)
#define HAS_DYNAMIC_REF    (G_GUINT64_CONSTANT (1) << 35)
#define HAS_UNEVAL_PROPS   (G_GUINT64_CONSTANT (1) << 36)
#define HAS_UNEVAL_ITEMS   (G_GUINT64_CONSTANT (1) << 37)

#define NUMBER_KEYWORDS (HAS_MINIMUM | HAS_MAXIMUM | HAS_EXCL_MIN | HAS_EXCL_MAX | HAS_MULTIPLE_OF)
#define STRING_KEYWORDS (HAS_MIN_LENGTH | HAS_MAX_LENGTH | HAS_PATTERN | HAS_FORMAT)
#define OBJECT_KEYWORDS (HAS_PROPERTIES | HAS_PATTERN_PROPS | HAS_ADDITIONAL | HAS_REQUIRED | HAS_DEP_REQUIRED | \
                         HAS_DEP_SCHEMAS | HAS_PROPERTY_NAMES | HAS_MIN_PROPS | HAS_MAX_PROPS | HAS_UNEVAL_PROPS)
#define ARRAY_KEYWORDS  (HAS_PREFIX_ITEMS | HAS_ITEMS | HAS_CONTAINS | HAS_MIN_ITEMS | HAS_MAX_ITEMS | HAS_UNIQUE | \
                         HAS_UNEVAL_ITEMS)

/* A JSON number as json-glib holds it: exact 64-bit integer or double. */
typedef struct {
  gboolean is_int;
  gint64   i;
  double   d;
} Num;

/* A finite number as a decimal: ±mantissa × 10^exponent, the mantissa
 * without trailing zeros (the shortest decimal that reads back as the
 * double).  multipleOf works on these, so 0.0075 is a multiple of 0.0001. */
typedef struct {
  guint64  mantissa;
  int      exponent;
} Decimal;

typedef enum {
  FORMAT_NONE,
  FORMAT_DATE_TIME,
  FORMAT_DATE,
  FORMAT_TIME,
  FORMAT_EMAIL,
  FORMAT_HOSTNAME,
  FORMAT_IPV4,
  FORMAT_IPV6,
  FORMAT_URI,
  FORMAT_UUID,
} SchemaFormat;

typedef struct _SchemaNode SchemaNode;

typedef struct {
  guint8      kind;  /* T_STRING, T_NUMBER, or 0 for any other value */
  const char *str;   /* borrowed from the enum's JsonNode */
  Num         num;
} EnumScalar;

/* A schema resource (a document root or a subschema with `$id`): the unit
 * of `$dynamicRef` scope. */
typedef struct {
  char       *uri;
  GHashTable *dynamic_anchors;  /* name → SchemaNode*, or NULL */
} SchemaResource;

typedef struct {
  char       *name;
  SchemaNode *schema;
} Prop;

typedef struct {
  char       *source;
  SluiceRegex *regex;
  SchemaNode *schema;
} PatternProp;

typedef struct {
  char  *name;      /* when this property is present ... */
  char **required;  /* ... these must be too */
} DepRequired;

struct _SchemaNode {
  char           *path;        /* JSON Pointer of this subschema in its document ("URI#pointer" outside the first) */
  guint64         has;         /* HAS_*: which keywords are present */
  gboolean        is_false;    /* the boolean schema `false` */
  guint8          mark;        /* cycle check scratch, compile time only */
  guint8          draft;       /* SluiceSchemaDraft */
  guint8          legacy_dependencies; /* dep_* come from `dependencies`: name it in messages */
  guint16         vocabularies; /* compile time only */
  SchemaResource *resource;
  char           *dynamic_anchor; /* this node's `$dynamicAnchor`, or NULL */

  guint8          type_mask;
  guint8          n_types;
  guint8          type_order[N_TYPE_NAMES]; /* indices into schema_type_names, schema order */

  JsonNode       *const_value;
  JsonNode      **enum_values;
  guint           n_enum;
  GHashTable     *enum_strings; /* set of the string values, when the enum is large */
  EnumScalar     *enum_scalars; /* each value as a C string or number, for the quick comparisons */

  Num             minimum, maximum, exclusive_minimum, exclusive_maximum, multiple_of;
  Decimal         multiple_of_decimal;
  guint64         min_length, max_length;
  SluiceRegex    *pattern;
  char           *pattern_source;
  SchemaFormat    format;
  char           *format_name;

  Prop           *props;
  guint           n_props;
  GHashTable     *prop_index;  /* name → Prop*, when there are many properties */
  PatternProp    *pattern_props;
  guint           n_pattern_props;
  SchemaNode     *additional;
  char          **required;
  guint           n_required;
  int            *required_prop; /* index into props of each required name, or -1 */
  DepRequired    *dep_required;
  guint           n_dep_required;
  Prop           *dep_schemas;
  guint           n_dep_schemas;
  SchemaNode     *property_names;
  guint64         min_props, max_props;

  SchemaNode    **prefix_items;  /* prefixItems, or draft 7's array form of items */
  guint           n_prefix_items;
  SchemaNode     *items;         /* the rest: items, or draft 7's additionalItems */
  SchemaNode     *contains;
  guint64         min_contains, max_contains;
  guint64         min_items, max_items;

  SchemaNode    **all_of, **any_of, **one_of;
  guint           n_all_of, n_any_of, n_one_of;
  SchemaNode     *not;
  SchemaNode     *if_, *then_, *else_;
  SchemaNode     *ref;
  SchemaNode     *dynamic_ref;         /* where `$dynamicRef` resolves statically */
  char           *dynamic_ref_anchor;  /* the name looked up in the dynamic scope, or NULL */
  SchemaNode     *unevaluated_props, *unevaluated_items;
};

struct _SluiceSchema {
  gatomicrefcount  ref_count;
  GPtrArray       *nodes;      /* SchemaNode*, owned */
  GPtrArray       *resources;  /* SchemaResource*, owned */
  GHashTable      *by_path;    /* SchemaNode.path → SchemaNode* */
  SchemaNode      *root;
};

/* sluice-schema.c */
G_GNUC_INTERNAL void        schema_append_escaped_token (GString *s, const char *token);
G_GNUC_INTERNAL gboolean    schema_num_from_node (JsonNode *node, Num *out);
G_GNUC_INTERNAL int         schema_num_cmp (const Num *a, const Num *b);
G_GNUC_INTERNAL gboolean    schema_num_is_integral (const Num *n);
G_GNUC_INTERNAL gboolean    schema_num_to_decimal (const Num *n, Decimal *out);
G_GNUC_INTERNAL gboolean    schema_num_is_multiple (const Num *value, const Num *divisor, const Decimal *divisor_decimal);
G_GNUC_INTERNAL const char *schema_format_num (char *buf, const Num *n);
G_GNUC_INTERNAL gboolean    schema_json_equal (JsonNode *a, JsonNode *b, guint depth);
G_GNUC_INTERNAL guint       schema_json_hash (JsonNode *node, guint depth);
G_GNUC_INTERNAL guint       schema_instance_type (JsonNode *node, Num *num);
G_GNUC_INTERNAL const char *schema_instance_type_name (guint bits);
G_GNUC_INTERNAL const char *schema_json_kind_name (JsonNode *node);
G_GNUC_INTERNAL void        schema_node_free (gpointer data);
G_GNUC_INTERNAL void        schema_resource_free (gpointer data);

/* sluice-schema-regex.c */
G_GNUC_INTERNAL SluiceRegex *schema_regex_new (const char *ecma_pattern, GError **error);
G_GNUC_INTERNAL SluiceRegexResult schema_regex_search (SluiceRegex *regex, const char *str, gsize length,
                                                      guint64 *steps, GError **error);

/* sluice-schema-format.c */
G_GNUC_INTERNAL SchemaFormat schema_format_lookup (const char *name);
G_GNUC_INTERNAL gboolean     schema_format_check (SchemaFormat format, const char *str);

G_END_DECLS
