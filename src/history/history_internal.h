/* history_internal.h — what the files of src/history share besides history.h. */
#ifndef ED_HISTORY_INTERNAL_H
#define ED_HISTORY_INTERNAL_H

#include "expert/history.h"

/* The value of column c in row r. */
double ed_row_value(const ed_row *r, const ed_column *c);
/* metrics.c: r's metrics.jsonl line, flushed; a no-op when m->f is NULL. */
void metrics_write_row(ed_metrics *m, const ed_row *r);

#endif
