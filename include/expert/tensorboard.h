/* tensorboard.h — TensorBoard event files (src/history/tensorboard.c), written by rank 0.
 *
 * `train --tensorboard DIR` writes DIR/events.out.tfevents.<unix seconds>.<host>: TFRecord
 * framing (uint64 length, masked CRC32C of the length, the payload, masked CRC32C of the
 * payload; little-endian) around Event protobufs of src/history/tb_event.proto (our
 * minimal copy of TensorBoard's field numbers). The first record is the file version;
 * every later one carries a Summary at a global step: the scalars of one history row (the
 * columns of ed_columns with a TensorBoard tag), or one text (markdown) summary. Each
 * record is flushed as written, so a running TensorBoard follows the run.
 *
 * TensorBoard output is a convenience, never a reason to lose the run: a directory that
 * cannot be created, or a write that fails (disk full), prints ONE warning on stderr and
 * turns the writer off; the run and its checkpoints go on. */
#ifndef EXPERT_TENSORBOARD_H
#define EXPERT_TENSORBOARD_H

#include "expert/history.h"

/* Creates DIR (mkdir -p) and a new events file in it. The events files already in DIR
 * (events.out.tfevents.*) are first cut to what precedes this run: a resumed run
 * (resume_step >= 0, the checkpoint's global step) keeps their records up to that step,
 * as metrics.jsonl does, so no step appears twice; a fresh run (resume_step < 0) removes
 * them. A file left without any summary is removed. Returns NULL after printing the one
 * warning when any of that fails. The caller owns the writer (ed_tb_close). */
ed_tb *ed_tb_open(const char *dir, long resume_step);
void ed_tb_close(ed_tb *tb);

/* The columns of r that have a TensorBoard tag, as scalars at r's step (one record;
 * non-finite values are left out). NULL or a failed writer: nothing. */
void ed_tb_scalars(ed_tb *tb, const ed_row *r);
/* A text summary under tag at step: text is stored as a markdown code block (each line
 * indented by four spaces), so TensorBoard's text plugin shows it verbatim. */
void ed_tb_text(ed_tb *tb, const char *tag, long step, const char *text);
/* 1 if a text summary under tag at step was kept from an earlier run by ed_tb_open. */
int ed_tb_has_text(const ed_tb *tb, const char *tag, long step);
/* The events file's path ("" for NULL). */
const char *ed_tb_path(const ed_tb *tb);

#endif
