-- When the color changed, sealed: a seized phone without the device key
-- does not show whether its owner was ever yellow or red.
CREATE TABLE color_history (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    day    INTEGER NOT NULL,
    sealed BLOB    NOT NULL
);
