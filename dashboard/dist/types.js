// The shapes of the API answers the dashboard reads (see /openapi.json for the full contract).
export const STATES = ["waiting", "ready", "scheduled", "leased", "completed", "dead", "cancelled"];
