/* sluice-budget.c — spending caps per UTC day and month.
 *
 * What was spent before the process started comes from the ledger (the
 * attempts table the sqlite sink writes), read at start and again when
 * the UTC day or month turns. What this process spends after that is
 * tracked here, in memory: each attempt reserves its estimated cost
 * before it is sent and settles it with the actual cost after, so that
 * concurrent requests cannot together pass a cap. The ledger is not read
 * again per request, so spending by other processes (or by another
 * budget in this one) after the start is not seen until the day turns;
 * a shared PostgreSQL ledger is planned for that.
 *
 * The ledger is opened read-only with plain sqlite3: SluiceDb is a
 * writer (it creates the file, runs the schema and keeps a thread),
 * and a budget must neither create a ledger nor wait on one.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "sluice-budget"

#include "sluice-budget-private.h"

#include <math.h>
#include <sqlite3.h>
#include <string.h>

#define DEFAULT_COMPLETION_TOKENS 1024

/* Sums of doubles read back from SQLite are not exact: $4.98 spent and
 * $0.02 asked fit a $5.00 cap. */
#define CAP_TOLERANCE_USD 1e-9

typedef enum
{
  SCOPE_OVERALL,
  SCOPE_PIPELINE,
  SCOPE_LABEL,
} ScopeKind;

typedef struct
{
  ScopeKind kind;
  char     *label;   /* SCOPE_LABEL */
} Scope;

/* One scope value's money: what the ledger had, what was spent here
 * since, and what attempts in flight have reserved. */
typedef struct
{
  gdouble ledger_day;
  gdouble ledger_month;
  gdouble here_day;
  gdouble here_month;
  gdouble reserved;
} Account;

typedef struct
{
  gdouble    amount;
  char       day[16];    /* the period it was made in */
  char       month[16];
  GPtrArray *accounts;   /* Account *, borrowed from the table (never removed) */
} Reservation;

struct _SluiceBudget
{
  GObject            parent_instance;

  GMutex             lock;
  SluiceBudgetClock  clock;
  gpointer           clock_data;
  char              *pipeline;
  char              *ledger_path;
  gdouble            daily_usd;     /* <= 0: no cap */
  gdouble            monthly_usd;
  gint64             completion_tokens;
  GPtrArray         *scopes;        /* Scope * */
  char               day[16];       /* YYYY-MM-DD the accounts are for */
  char               month[16];     /* YYYY-MM */
  GHashTable        *accounts;      /* "scope index \x1f value" → Account * */
  GHashTable        *reservations;  /* id → Reservation * */
  GHashTable        *unpriced;      /* "provider/model" warned about */
  guint64            next_id;
  guint              n_refused;
};

G_DEFINE_FINAL_TYPE (SluiceBudget, sluice_budget, G_TYPE_OBJECT)

static void
scope_free (Scope *scope)
{
  g_free (scope->label);
  g_free (scope);
}

static void
reservation_free (Reservation *reservation)
{
  g_ptr_array_unref (reservation->accounts);
  g_free (reservation);
}

static void
sluice_budget_finalize (GObject *object)
{
  SluiceBudget *self = SLUICE_BUDGET (object);

  g_free (self->pipeline);
  g_free (self->ledger_path);
  g_ptr_array_unref (self->scopes);
  g_hash_table_unref (self->reservations);
  g_hash_table_unref (self->accounts);
  g_hash_table_unref (self->unpriced);
  g_mutex_clear (&self->lock);
  G_OBJECT_CLASS (sluice_budget_parent_class)->finalize (object);
}

static void
sluice_budget_class_init (SluiceBudgetClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = sluice_budget_finalize;
}

static void
sluice_budget_init (SluiceBudget *self)
{
  g_mutex_init (&self->lock);
  self->scopes = g_ptr_array_new_with_free_func ((GDestroyNotify) scope_free);
  self->accounts = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  self->reservations = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free,
                                              (GDestroyNotify) reservation_free);
  self->unpriced = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
}

/* "$5.00", "$0.04"; amounts below a cent keep their digits: "$0.000075". */
static char *
format_usd (gdouble usd)
{
  char *text;
  gsize len;

  if (fabs (usd * 100 - round (usd * 100)) < 1e-6)
    return g_strdup_printf ("$%.2f", usd);
  text = g_strdup_printf ("$%.6f", usd);
  len = strlen (text);
  while (len > 0 && text[len - 1] == '0' && text[len - 3] != '.')
    text[--len] = '\0';
  return text;
}

/* ---- configuration ------------------------------------------------------------ */

static gboolean
read_cap (JsonObject  *config,
          const char  *member,
          gdouble     *out,
          GError     **error)
{
  JsonNode *node = json_object_get_member (config, member);

  *out = 0;
  if (node == NULL)
    return TRUE;
  if (!JSON_NODE_HOLDS_VALUE (node) ||
      (json_node_get_value_type (node) != G_TYPE_DOUBLE && json_node_get_value_type (node) != G_TYPE_INT64))
    return sluice_config_invalid (error, "budget: '%s' must be a number of US dollars above 0", member);
  if (json_node_get_double (node) <= 0)
    return sluice_config_invalid (error, "budget: '%s' must be a number of US dollars above 0, not %g",
                                  member, json_node_get_double (node));
  *out = json_node_get_double (node);
  return TRUE;
}

static gboolean
label_name_ok (const char *name)
{
  if (name == NULL || *name == '\0')
    return FALSE;
  for (const char *p = name; *p; p++)
    if (!g_ascii_isalnum (*p) && *p != '_' && *p != '-')
      return FALSE;
  return TRUE;
}

static gboolean
read_scopes (SluiceBudget  *self,
             JsonObject    *config,
             GError       **error)
{
  JsonNode *node = json_object_get_member (config, "per");
  JsonArray *per;

  if (node == NULL)
    {
      Scope *scope = g_new0 (Scope, 1);

      scope->kind = SCOPE_PIPELINE;
      g_ptr_array_add (self->scopes, scope);
      return TRUE;
    }
  if (!JSON_NODE_HOLDS_ARRAY (node) || json_array_get_length (json_node_get_array (node)) == 0)
    goto bad;
  per = json_node_get_array (node);
  for (guint i = 0; i < json_array_get_length (per); i++)
    {
      JsonNode *element = json_array_get_element (per, i);
      const char *text = JSON_NODE_HOLDS_VALUE (element) && json_node_get_value_type (element) == G_TYPE_STRING
                         ? json_node_get_string (element) : NULL;
      Scope *scope;

      if (text == NULL)
        goto bad;
      scope = g_new0 (Scope, 1);
      if (g_str_equal (text, "overall"))
        scope->kind = SCOPE_OVERALL;
      else if (g_str_equal (text, "pipeline"))
        scope->kind = SCOPE_PIPELINE;
      else if (g_str_has_prefix (text, "label:") && !label_name_ok (text + 6))
        {
          g_free (scope);
          return sluice_config_invalid (error, "budget: scope '%s' in 'per': a label name is letters, digits, "
                                        "'_' and '-'", text);
        }
      else if (g_str_has_prefix (text, "label:"))
        {
          scope->kind = SCOPE_LABEL;
          scope->label = g_strdup (text + 6);
        }
      else
        {
          g_free (scope);
          return sluice_config_invalid (error, "budget: unknown scope '%s' in 'per' (overall, pipeline, "
                                        "or label:NAME)", text);
        }
      g_ptr_array_add (self->scopes, scope);
    }
  return TRUE;

bad:
  return sluice_config_invalid (error, "budget: 'per' must be a list of scopes: overall, pipeline, label:NAME");
}

/* ---- the ledger ------------------------------------------------------------------ */

static void
current_period (SluiceBudget *self,
                char         *day,
                char         *month)
{
  gint64 now = self->clock != NULL ? self->clock (self->clock_data) : g_get_real_time ();
  g_autoptr(GDateTime) utc = g_date_time_new_from_unix_utc (now / G_USEC_PER_SEC);
  g_autofree char *d = g_date_time_format (utc, "%Y-%m-%d");
  g_autofree char *m = g_date_time_format (utc, "%Y-%m");

  g_strlcpy (day, d, 16);
  g_strlcpy (month, m, 16);
}

static char *
account_key (guint       scope_index,
             const char *value)
{
  return g_strdup_printf ("%u\x1f%s", scope_index, value != NULL ? value : "");
}

static Account *
lookup_account (SluiceBudget *self,
                guint         scope_index,
                const char   *value)
{
  g_autofree char *key = account_key (scope_index, value);
  Account *account = g_hash_table_lookup (self->accounts, key);

  if (account == NULL)
    {
      account = g_new0 (Account, 1);
      g_hash_table_insert (self->accounts, g_steal_pointer (&key), account);
    }
  return account;
}

/* Sums the ledger's attempts of the month, and of the day, per value of
 * the scope into @sums ("key" → gdouble[2]: day, month). Times in the
 * ledger are ISO 8601 UTC ("2026-12-04T11:56:39.123Z"), so they compare
 * as text. A request without the label counts under "". */
static gboolean
read_ledger_sums (SluiceBudget  *self,
                  sqlite3       *db,
                  guint          scope_index,
                  const char    *day_start,
                  const char    *month_start,
                  GHashTable    *sums,
                  GError       **error)
{
  Scope *scope = g_ptr_array_index (self->scopes, scope_index);
  g_autofree char *label_path = NULL;
  const char *key_sql;
  g_autofree char *sql = NULL;
  sqlite3_stmt *stmt = NULL;
  int rc;

  switch (scope->kind)
    {
    case SCOPE_OVERALL:
      key_sql = "''";
      break;
    case SCOPE_PIPELINE:
      key_sql = "COALESCE(pipeline, '')";
      break;
    default:
      /* label names are [A-Za-z0-9_-]+ (checked), safe in a JSON path */
      label_path = g_strdup_printf ("$.\"%s\"", scope->label);
      key_sql = "COALESCE(json_extract(CASE WHEN json_valid(labels) THEN labels END, ?3), '')";
      break;
    }
  sql = g_strdup_printf ("SELECT %s, SUM(CASE WHEN time >= ?1 THEN cost_usd END), SUM(cost_usd) "
                         "FROM attempts WHERE time >= ?2 GROUP BY 1", key_sql);
  if (sqlite3_prepare_v2 (db, sql, -1, &stmt, NULL) != SQLITE_OK)
    {
      /* A ledger that has never had an attempt holds no table yet. */
      if (strstr (sqlite3_errmsg (db), "no such table") != NULL)
        return TRUE;
      g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_FAILED, "budget: cannot read the ledger %s: %s",
                   self->ledger_path, sqlite3_errmsg (db));
      return FALSE;
    }
  sqlite3_bind_text (stmt, 1, day_start, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text (stmt, 2, month_start, -1, SQLITE_TRANSIENT);
  if (label_path != NULL)
    sqlite3_bind_text (stmt, 3, label_path, -1, SQLITE_TRANSIENT);
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      const char *value = (const char *) sqlite3_column_text (stmt, 0);
      gdouble *sum = g_new (gdouble, 2);

      sum[0] = sqlite3_column_double (stmt, 1);   /* NULL reads as 0 */
      sum[1] = sqlite3_column_double (stmt, 2);
      g_hash_table_insert (sums, account_key (scope_index, value), sum);
    }
  sqlite3_finalize (stmt);
  if (rc != SQLITE_DONE)
    {
      g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_FAILED, "budget: cannot read the ledger %s: %s",
                   self->ledger_path, sqlite3_errmsg (db));
      return FALSE;
    }
  return TRUE;
}

/* Reads the ledger's sums for the period of @day and @month, or fails
 * and changes nothing. */
static GHashTable *
read_ledger (SluiceBudget  *self,
             const char    *day,
             const char    *month,
             GError       **error)
{
  g_autoptr(GHashTable) sums = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_autofree char *day_start = g_strdup_printf ("%sT00:00:00", day);
  g_autofree char *month_start = g_strdup_printf ("%s-01T00:00:00", month);
  sqlite3 *db = NULL;
  gboolean ok = TRUE;

  if (!g_file_test (self->ledger_path, G_FILE_TEST_EXISTS))
    return g_steal_pointer (&sums);   /* nothing spent yet */
  if (g_file_test (self->ledger_path, G_FILE_TEST_IS_DIR))
    {
      g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_FAILED,
                   "budget: the ledger %s is a folder; give the path of the ledger file", self->ledger_path);
      return NULL;
    }

  if (sqlite3_open_v2 (self->ledger_path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
    {
      g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_FAILED, "budget: cannot open the ledger %s: %s",
                   self->ledger_path, db != NULL ? sqlite3_errmsg (db) : "out of memory");
      sqlite3_close (db);
      return NULL;
    }
  sqlite3_busy_timeout (db, 5000);
  for (guint i = 0; ok && i < self->scopes->len; i++)
    ok = read_ledger_sums (self, db, i, day_start, month_start, sums, error);
  sqlite3_close (db);
  return ok ? g_steal_pointer (&sums) : NULL;
}

/* (Re)loads the day's and month's spending for the current period.
 * In-process figures start afresh: what was spent here is in the ledger
 * by now when the pipeline logs to it, as it does by default. Only a
 * successful read moves the period on, so a failed one is tried again. */
static gboolean
load_ledger (SluiceBudget  *self,
             const char    *day,
             const char    *month,
             GError       **error)
{
  g_autoptr(GHashTable) sums = read_ledger (self, day, month, error);
  GHashTableIter iter;
  gpointer key, value;

  if (sums == NULL)
    return FALSE;
  g_hash_table_iter_init (&iter, self->accounts);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      Account *account = value;

      account->ledger_day = account->ledger_month = 0;
      account->here_day = account->here_month = 0;
    }
  g_hash_table_iter_init (&iter, sums);
  while (g_hash_table_iter_next (&iter, &key, &value))
    {
      Account *account = g_hash_table_lookup (self->accounts, key);
      const gdouble *sum = value;

      if (account == NULL)
        {
          account = g_new0 (Account, 1);
          g_hash_table_insert (self->accounts, g_strdup (key), account);
        }
      account->ledger_day = sum[0];
      account->ledger_month = sum[1];
    }
  g_strlcpy (self->day, day, sizeof self->day);
  g_strlcpy (self->month, month, sizeof self->month);
  return TRUE;
}

SluiceBudget *
sluice_budget_new_with_clock (JsonObject         *config,
                              const char         *pipeline_name,
                              SluiceBudgetClock   clock,
                              gpointer            clock_data,
                              GError            **error)
{
  g_autoptr(SluiceBudget) self = g_object_new (SLUICE_TYPE_BUDGET, NULL);
  static const char * const known[] = { "daily_usd", "monthly_usd", "per", "ledger", "estimate_completion_tokens", NULL };
  g_autoptr(GList) members = NULL;
  JsonNode *node;
  char day[16], month[16];

  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (config == NULL)
    {
      sluice_config_invalid (error, "budget: give a cap: daily_usd, monthly_usd or both");
      return NULL;
    }
  members = json_object_get_members (config);
  for (GList *l = members; l != NULL; l = l->next)
    if (!g_strv_contains (known, l->data))
      {
        sluice_config_invalid (error, "budget: unknown member '%s' (known: daily_usd, monthly_usd, per, ledger, "
                               "estimate_completion_tokens)", (const char *) l->data);
        return NULL;
      }
  if (!read_cap (config, "daily_usd", &self->daily_usd, error) ||
      !read_cap (config, "monthly_usd", &self->monthly_usd, error) ||
      !read_scopes (self, config, error))
    return NULL;
  if (self->daily_usd <= 0 && self->monthly_usd <= 0)
    {
      sluice_config_invalid (error, "budget: give a cap: daily_usd, monthly_usd or both");
      return NULL;
    }

  self->completion_tokens = DEFAULT_COMPLETION_TOKENS;
  node = json_object_get_member (config, "estimate_completion_tokens");
  if (node != NULL)
    {
      if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_INT64 ||
          json_node_get_int (node) < 0 || json_node_get_int (node) > SLUICE_MAX_COUNT)
        {
          sluice_config_invalid (error, "budget: 'estimate_completion_tokens' must be a whole number of tokens, "
                                 "0 or more");
          return NULL;
        }
      self->completion_tokens = json_node_get_int (node);
    }

  node = json_object_get_member (config, "ledger");
  if (node != NULL)
    {
      if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING ||
          *json_node_get_string (node) == '\0')
        {
          sluice_config_invalid (error, "budget: 'ledger' must be the path of the SQLite ledger");
          return NULL;
        }
      self->ledger_path = g_strdup (json_node_get_string (node));
    }
  else
    self->ledger_path = sluice_get_default_ledger_path ();   /* where the sqlite sink writes */

  self->pipeline = g_strdup (pipeline_name != NULL ? pipeline_name : "");
  self->clock = clock;
  self->clock_data = clock_data;
  current_period (self, day, month);
  if (!load_ledger (self, day, month, error))
    return NULL;
  return g_steal_pointer (&self);
}

SluiceBudget *
sluice_budget_new (JsonObject  *config,
                   const char  *pipeline_name,
                   GError     **error)
{
  return sluice_budget_new_with_clock (config, pipeline_name, NULL, NULL, error);
}

/* ---- checking --------------------------------------------------------------------- */

gdouble
sluice_budget_estimate_cost (SluiceContext *context,
                             const char    *provider,
                             const char    *model,
                             gint64         completion_tokens)
{
  gint64 prompt;
  const char *counted_for = NULL;

  g_return_val_if_fail (SLUICE_IS_CONTEXT (context), -1);

  prompt = sluice_context_get_counted_prompt_tokens (context, NULL, &counted_for);
  if (prompt >= 0 && counted_for != NULL && model != NULL && !g_str_equal (counted_for, model))
    prompt = -1;   /* counted for another target's model */
  if (prompt < 0)
    prompt = sluice_json_get_int (sluice_context_get_variables (context), "input_tokens", -1);
  if (prompt < 0)
    prompt = sluice_count_prompt_tokens (sluice_context_get_messages (context), provider, model, 0, NULL);
  return sluice_catalog_compute_cost (sluice_catalog_get_default (), provider, model, prompt,
                                      MAX (completion_tokens, 0), 0);
}

gdouble
sluice_budget_estimate (SluiceBudget  *self,
                        SluiceContext *context,
                        const char    *provider,
                        const char    *model,
                        JsonObject    *target)
{
  JsonObject *preflight;
  gint64 completion;
  gdouble cost;

  g_return_val_if_fail (SLUICE_IS_BUDGET (self), -1);
  g_return_val_if_fail (SLUICE_IS_CONTEXT (context), -1);

  completion = sluice_json_get_int (target, "max_tokens", -1);
  /* The output the context-check stage reserved for this model. */
  preflight = sluice_context_get_preflight (context);
  if (completion < 0 &&
      g_strcmp0 (sluice_json_get_string (preflight, "provider"), provider) == 0 &&
      g_strcmp0 (sluice_json_get_string (preflight, "model"), model) == 0)
    completion = sluice_json_get_int (preflight, "reserved_output_tokens", -1);
  if (completion < 0)
    completion = self->completion_tokens;
  cost = sluice_budget_estimate_cost (context, provider, model, completion);
  if (cost < 0)
    {
      g_autofree char *key = g_strdup_printf ("%s/%s", provider != NULL ? provider : "",
                                              model != NULL ? model : "");
      gboolean first;

      g_mutex_lock (&self->lock);
      first = g_hash_table_add (self->unpriced, g_steal_pointer (&key));
      g_mutex_unlock (&self->lock);
      if (first)
        g_warning ("budget: model '%s' of provider '%s' has no price in the catalog: an unknown price "
                   "cannot be capped, so its requests pass the budget as if free",
                   model != NULL ? model : "", provider != NULL ? provider : "");
      return -1;
    }
  return cost;
}

static const char *
scope_value (SluiceBudget  *self,
             Scope         *scope,
             SluiceContext *context)
{
  const char *value;

  switch (scope->kind)
    {
    case SCOPE_OVERALL:
      return "";
    case SCOPE_PIPELINE:
      return self->pipeline;
    default:
      value = sluice_context_get_label (context, scope->label);
      return value != NULL ? value : "";
    }
}

static char *
describe_scope (Scope      *scope,
                const char *value)
{
  switch (scope->kind)
    {
    case SCOPE_OVERALL:
      return g_strdup ("overall");
    case SCOPE_PIPELINE:
      return g_strdup_printf ("for pipeline '%s'", value);
    default:
      return g_strdup_printf ("for %s '%s'", scope->label, value);
    }
}

/* A cap would be passed: the error, a logged event and the count. */
static guint64
refuse (SluiceBudget  *self,
        Scope         *scope,
        const char    *value,
        const char    *period,
        gdouble        cap,
        gdouble        spent,
        gdouble        reserved,
        gdouble        estimate,
        GError       **error)
{
  g_autofree char *who = describe_scope (scope, value);
  g_autofree char *cap_text = format_usd (cap);
  g_autofree char *spent_text = format_usd (spent);
  g_autofree char *reserved_text = format_usd (reserved);
  g_autofree char *estimate_text = format_usd (estimate);
  g_autofree char *in_flight = reserved > 0 ? g_strdup_printf (", %s reserved by requests in flight", reserved_text)
                                            : g_strdup ("");
  g_autoptr(GError) refusal = NULL;

  self->n_refused++;
  refusal = g_error_new (SLUICE_ERROR, SLUICE_ERROR_BUDGET_EXCEEDED,
                         "%s budget of %s %s would be passed: %s spent%s, this request up to %s",
                         period, cap_text, who, spent_text, in_flight, estimate_text);
  g_message ("budget: refused a request of pipeline '%s': %s", self->pipeline, refusal->message);
  g_propagate_error (error, g_steal_pointer (&refusal));
  return 0;
}

guint64
sluice_budget_reserve (SluiceBudget   *self,
                       SluiceContext  *context,
                       gdouble         estimate_usd,
                       GError        **error)
{
  g_autoptr(GMutexLocker) locker = NULL;
  g_autoptr(GPtrArray) accounts = g_ptr_array_new ();
  char day[16], month[16];
  Reservation *reservation;
  guint64 *id;

  g_return_val_if_fail (SLUICE_IS_BUDGET (self), 0);
  g_return_val_if_fail (SLUICE_IS_CONTEXT (context), 0);
  g_return_val_if_fail (error == NULL || *error == NULL, 0);

  locker = g_mutex_locker_new (&self->lock);
  current_period (self, day, month);
  if ((strcmp (day, self->day) != 0 || strcmp (month, self->month) != 0) &&
      !load_ledger (self, day, month, error))
    return 0;
  estimate_usd = MAX (estimate_usd, 0);   /* unknown (-1): free, see sluice_budget_estimate() */

  for (guint i = 0; i < self->scopes->len; i++)
    {
      Scope *scope = g_ptr_array_index (self->scopes, i);
      const char *value = scope_value (self, scope, context);
      Account *account = lookup_account (self, i, value);
      gdouble day_spent = account->ledger_day + account->here_day;
      gdouble month_spent = account->ledger_month + account->here_month;

      if (self->daily_usd > 0 &&
          day_spent + account->reserved + estimate_usd > self->daily_usd + CAP_TOLERANCE_USD)
        return refuse (self, scope, value, "daily", self->daily_usd, day_spent, account->reserved,
                       estimate_usd, error);
      if (self->monthly_usd > 0 &&
          month_spent + account->reserved + estimate_usd > self->monthly_usd + CAP_TOLERANCE_USD)
        return refuse (self, scope, value, "monthly", self->monthly_usd, month_spent, account->reserved,
                       estimate_usd, error);
      g_ptr_array_add (accounts, account);
    }

  reservation = g_new0 (Reservation, 1);
  reservation->amount = estimate_usd;
  g_strlcpy (reservation->day, day, sizeof reservation->day);
  g_strlcpy (reservation->month, month, sizeof reservation->month);
  reservation->accounts = g_steal_pointer (&accounts);
  for (guint i = 0; i < reservation->accounts->len; i++)
    ((Account *) g_ptr_array_index (reservation->accounts, i))->reserved += estimate_usd;
  id = g_new (guint64, 1);
  *id = ++self->next_id;
  g_hash_table_insert (self->reservations, id, reservation);
  return *id;
}

void
sluice_budget_settle (SluiceBudget *self,
                      guint64       reservation_id,
                      gdouble       actual_usd)
{
  g_autoptr(GMutexLocker) locker = NULL;
  Reservation *reservation;
  gboolean same_day, same_month;

  g_return_if_fail (SLUICE_IS_BUDGET (self));

  locker = g_mutex_locker_new (&self->lock);
  reservation = g_hash_table_lookup (self->reservations, &reservation_id);
  if (reservation == NULL)
    return;   /* 0 (no reservation) or settled already */
  if (actual_usd < 0)
    actual_usd = reservation->amount;
  /* An attempt started before the day (month) turned is in the ledger
   * under the old one: it does not count against the new one. */
  same_day = strcmp (reservation->day, self->day) == 0;
  same_month = strcmp (reservation->month, self->month) == 0;
  for (guint i = 0; i < reservation->accounts->len; i++)
    {
      Account *account = g_ptr_array_index (reservation->accounts, i);

      account->reserved = MAX (account->reserved - reservation->amount, 0);
      if (same_day)
        account->here_day += actual_usd;
      if (same_month)
        account->here_month += actual_usd;
    }
  g_hash_table_remove (self->reservations, &reservation_id);
}

guint
sluice_budget_get_n_refused (SluiceBudget *self)
{
  g_autoptr(GMutexLocker) locker = NULL;

  g_return_val_if_fail (SLUICE_IS_BUDGET (self), 0);

  locker = g_mutex_locker_new (&self->lock);
  return self->n_refused;
}
