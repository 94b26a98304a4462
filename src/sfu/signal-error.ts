import { AppError, type AppErrorOptions, type ErrorReason } from "../errors.ts";

// An AppError whose signalling error frame carries a more specific `reason` than the API's list
// (e.g. `room_full` where the HTTP reason would be `forbidden`), so a page can tell refusals apart.

export class SignalError extends AppError {
  constructor(
    reason: ErrorReason,
    readonly frameReason: string,
    message: string,
    options: AppErrorOptions = {},
  ) {
    super(reason, message, options);
  }
}

/** The `reason` an error frame shows for `err`. */
export const frameReasonOf = (err: AppError): string => (err instanceof SignalError ? err.frameReason : err.reason);
