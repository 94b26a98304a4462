import { z } from "zod";

// 100ms pagination: `limit` (default 10, at most 100) and `start` (the previous page's `last`).
// Lists are ordered by id, which is time-ordered. The lists 100ms documents (rooms, sessions, templates,
// recordings, live streams, recording assets) use `listPageQuery`: newest first, as 100ms's samples
// answer, `start` then an exclusive upper bound (paging back in time). tapedeck adds `order=asc` (oldest
// first, `start` an exclusive lower bound) and accepts any limit from 1 to 100 (100ms documents 10-100).
// `pageQuery` is the same with oldest first by default (tapedeck's own lists, e.g. the delivery log).

export const pageQuery = {
  limit: z.coerce
    .number({ error: "limit must be a number" })
    .int("limit must be a whole number")
    .min(1, "limit must be between 1 and 100")
    .max(100, "limit must be between 1 and 100")
    .default(10),
  // A cursor is a previous page's `last` (an object id or UUID): anything else is refused, not sent to
  // the database (PostgreSQL refuses a NUL in text, which would surface as a 500).
  start: z
    .string({ error: "start must be given once" })
    .max(64, "start must be at most 64 characters: the `last` of a previous page")
    .regex(/^[A-Za-z0-9_.:-]*$/, "start must be the `last` of a previous page (letters, digits, '-', '_', '.', ':')")
    .optional(),
  order: z.enum(["asc", "desc"], { error: "order must be asc or desc" }).default("asc"),
};

/** The page query of the lists 100ms documents: newest first unless `order=asc`. */
export const listPageQuery = {
  ...pageQuery,
  order: z.enum(["asc", "desc"], { error: "order must be asc or desc" }).default("desc"),
};

/** The comparison that puts an id after the `start` cursor in the list's order. */
export const afterCursor = (order: "asc" | "desc") => (order === "desc" ? "<" : ">") as "<" | ">";

export interface Page<T> {
  limit: number;
  data: T[];
  last: string;
}

/** Call with up to `limit + 1` rows fetched: the extra row only says whether a next page exists. */
export function toPage<R extends { id: string }, T>(rows: R[], limit: number, render: (r: R) => T): Page<T> {
  const pageRows = rows.slice(0, limit);
  const hasMore = rows.length > limit;
  return {
    limit,
    data: pageRows.map(render),
    last: hasMore && pageRows.length ? pageRows[pageRows.length - 1].id : "",
  };
}
