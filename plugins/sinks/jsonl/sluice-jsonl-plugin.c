/* sluice-jsonl-plugin.c — registers the 'jsonl' cost sink with libpeas.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <libpeas/peas.h>

#include "sluice-jsonl-sink.h"

G_MODULE_EXPORT void
peas_register_types (PeasObjectModule *module)
{
  peas_object_module_register_extension_type (module, SLUICE_TYPE_COST_SINK, SLUICE_TYPE_JSONL_SINK);
}
