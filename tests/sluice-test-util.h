/* sluice-test-util.h — small helpers shared by the tests.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <sluice.h>

G_BEGIN_DECLS

/* Writes contents to a new file in a fresh temporary folder; returns its path. */
char           *sluice_test_write_file     (const char     *name,
                                            const char     *contents);
/* Loads a pipeline from YAML text; asserts that it loads. */
SluicePipeline *sluice_test_load_pipeline  (SluiceEngine   *engine,
                                            const char     *yaml);
/* Runs one request to its end on a private main loop. */
SluiceContext  *sluice_test_run            (SluicePipeline *pipeline,
                                            const char     *input_json);
/* Runs a prepared context to its end on a private main loop. */
void            sluice_test_run_context    (SluicePipeline *pipeline,
                                            SluiceContext  *context);
/* Flushes the pipeline's stages (sinks) synchronously. */
void            sluice_test_flush          (SluicePipeline *pipeline);

/* Starts tools/sluice-mock with the given extra arguments (NULL-terminated);
 * returns its base URL. sluice_test_mock_stop() ends it. */
char           *sluice_test_mock_start     (const char     *first_arg,
                                            ...) G_GNUC_NULL_TERMINATED;
void            sluice_test_mock_stop      (void);
/* GET /mock/stats of the running mock, parsed. */
JsonObject     *sluice_test_mock_stats     (void);
/* GET @path (such as /mock/requests) of the running mock, a JSON object. */
JsonObject     *sluice_test_mock_get       (const char     *path);
/* The body of the last POST the running mock received (GET
 * /mock/last-request), parsed: what sluice sent. */
JsonObject     *sluice_test_mock_last_request (void);

/* From now on keep the text of every log message (debug ones too, which
 * are still printed only on request), so a test can look through it. */
void            sluice_test_capture_logs   (void);
/* What was logged since the capture started or was last cleared. */
const char     *sluice_test_get_logs       (void);
void            sluice_test_clear_logs     (void);
void            sluice_test_stop_capturing_logs (void);

/* Fails the test, showing haystack, unless it contains needle. */
void            sluice_test_assert_contains (const char    *haystack,
                                             const char    *needle);

G_END_DECLS
