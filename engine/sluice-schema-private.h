/* sluice-schema-private.h — compiled JSON Schema validator (private to libsluice-1)
 *
 * A schema is compiled once into a graph of C structs and can then validate
 * any number of instances, from several threads at once.  Drafts 2020-12
 * (the default) and 7 are implemented completely; `format` is an annotation
 * unless %SLUICE_SCHEMA_ASSERT_FORMAT is given.  Remote `$ref`s resolve only
 * through a #SluiceSchemaRegistry, never over the network.
 */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/**
 * SLUICE_SCHEMA_ERROR:
 *
 * Error domain of the schema validator.  Errors in this domain are from
 * the #SluiceSchemaError enumeration.
 */
#define SLUICE_SCHEMA_ERROR (sluice_schema_error_quark ())

/**
 * SluiceSchemaError:
 * @SLUICE_SCHEMA_ERROR_INVALID: the schema itself is malformed, names a
 *   dialect that is not supported, or has a `$ref` that cannot be resolved or
 *   loops; the message starts with the JSON Pointer of the offending
 *   location ("/" for the root; "URI#pointer" inside a registered document)
 * @SLUICE_SCHEMA_ERROR_VIOLATION: an instance does not satisfy the schema
 *   (sluice_schema_check())
 *
 * Stable error codes of %SLUICE_SCHEMA_ERROR.
 */
typedef enum {
  SLUICE_SCHEMA_ERROR_INVALID,
  SLUICE_SCHEMA_ERROR_VIOLATION,
} SluiceSchemaError;

GQuark sluice_schema_error_quark (void);

/**
 * SluiceSchema:
 *
 * A compiled schema: immutable and reference counted.  Validating the same
 * schema from several threads at once is safe.
 */
typedef struct _SluiceSchema SluiceSchema;

/**
 * SluiceViolation:
 * @instance_path: JSON Pointer into the instance ("" for the root), RFC 6901
 *   escaped, e.g. "/items/2/name"
 * @keyword_path: JSON Pointer of the failing keyword in the schema document,
 *   after `$ref` resolution, e.g. "/properties/confidence/maximum" or
 *   "/$defs/node/properties/value/type"; inside a document from the
 *   registry, prefixed by its URI: "https://example.com/money.json#/minimum"
 * @message: a sentence for a person, e.g. "1.5 is greater than the maximum 1".
 *   It never quotes a string value of the instance (those may be secrets);
 *   numbers, lengths, property names and type names may appear.
 *
 * One reason an instance failed validation.
 */
typedef struct {
  char *instance_path;
  char *keyword_path;
  char *message;
} SluiceViolation;

void sluice_violation_free (SluiceViolation *v);

/**
 * SluiceSchemaDraft:
 * @SLUICE_SCHEMA_DRAFT_2020_12: JSON Schema draft 2020-12
 * @SLUICE_SCHEMA_DRAFT_7: JSON Schema draft 7
 *
 * The dialect of a schema that has no `$schema` of its own.
 */
typedef enum {
  SLUICE_SCHEMA_DRAFT_2020_12,
  SLUICE_SCHEMA_DRAFT_7,
} SluiceSchemaDraft;

/**
 * SluiceSchemaFlags:
 * @SLUICE_SCHEMA_FLAGS_NONE: no flags
 * @SLUICE_SCHEMA_ASSERT_FORMAT: `format` asserts (date-time, date, time,
 *   email, hostname, ipv4, ipv6, uri, uuid) instead of only annotating
 *
 * Compile options of sluice_schema_new_full().
 */
typedef enum {
  SLUICE_SCHEMA_FLAGS_NONE    = 0,
  SLUICE_SCHEMA_ASSERT_FORMAT = 1 << 0,
} SluiceSchemaFlags;

/**
 * SluiceSchemaRegistry:
 *
 * Documents that remote `$ref`s (and `$schema` URIs of custom metaschemas)
 * resolve to: registered one by one, or read from a folder mapped to a URI
 * prefix.  Nothing is ever fetched over the network.  A registry may be
 * shared between threads; it is only read while a schema compiles.
 */
typedef struct _SluiceSchemaRegistry SluiceSchemaRegistry;

SluiceSchemaRegistry *sluice_schema_registry_new        (void);
SluiceSchemaRegistry *sluice_schema_registry_ref        (SluiceSchemaRegistry *registry);
void                  sluice_schema_registry_unref      (SluiceSchemaRegistry *registry);
void                  sluice_schema_registry_add        (SluiceSchemaRegistry *registry,
                                                         const char           *uri,
                                                         JsonNode             *document);
void                  sluice_schema_registry_add_folder (SluiceSchemaRegistry *registry,
                                                         const char           *uri_prefix,
                                                         const char           *folder);
JsonNode             *sluice_schema_registry_lookup     (SluiceSchemaRegistry *registry,
                                                         const char           *uri,
                                                         GError              **error);

SluiceSchema *sluice_schema_new              (JsonNode      *schema,
                                              GError       **error);
SluiceSchema *sluice_schema_new_from_string  (const char    *json,
                                              GError       **error);
SluiceSchema *sluice_schema_new_full         (JsonNode             *schema,
                                              const char           *base_uri,
                                              SluiceSchemaDraft     default_draft,
                                              SluiceSchemaFlags     flags,
                                              SluiceSchemaRegistry *registry,
                                              GError              **error);
SluiceSchema *sluice_schema_ref              (SluiceSchema  *s);
void          sluice_schema_unref            (SluiceSchema  *s);
gboolean      sluice_schema_validate         (SluiceSchema  *s,
                                              JsonNode      *instance,
                                              GPtrArray     *violations,
                                              guint          max_violations);
gboolean      sluice_schema_check            (SluiceSchema  *s,
                                              JsonNode      *instance,
                                              GError       **error);
char        **sluice_schema_dup_property_names (SluiceSchema *s,
                                                const char   *pointer);

char         *sluice_json_pointer_append     (const char    *base,
                                              const char    *token);
JsonNode     *sluice_json_pointer_resolve    (JsonNode      *root,
                                              const char    *pointer);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (SluiceSchema, sluice_schema_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SluiceViolation, sluice_violation_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SluiceSchemaRegistry, sluice_schema_registry_unref)

G_END_DECLS
