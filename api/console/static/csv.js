// Parsing and checking a batch in the browser, with the limits the ingest API enforces, so a mistake is
// named (line and column) before anything is sent.
export const MAX_ROWS = 10000;
export const MAX_SUBJECT = 128;
export const MAX_ABS = 1e100;

function splitLine(line) {
  // Plain CSV: commas, semicolons or tabs; quotes around a field are dropped.
  return line.split(/[,;\t]/).map((cell) => cell.trim().replace(/^"(.*)"$/, "$1").trim());
}

const isNumber = (cell) => cell !== "" && !Number.isNaN(Number(cell));

/**
 * Reads rows of features, with an optional header and an optional subject column.
 * Returns {subjects, features, errors, header}; errors name the line and column at fault.
 */
export function parseBatch(text, featureNames, makeSubject) {
  const width = featureNames.length;
  const lines = text.split(/\r?\n/).map((line, index) => ({ line: index + 1, text: line }))
    .filter((l) => l.text.trim() !== "" && !l.text.trim().startsWith("#"));
  const errors = [];
  const subjects = [];
  const features = [];
  if (lines.length === 0) return { subjects, features, errors: ["No rows: paste rows or drop a CSV file."] };

  let columns = null; // feature i is read from cells[columns[i]]
  let subjectColumn = null;
  const first = splitLine(lines[0].text);
  const known = new Set([...featureNames.map((n) => n.toLowerCase()), "subject", "id"]);
  // A header names at least one column, or has no number at all; "a,1,2,3,4" is a row with a subject.
  if (first.some((c) => known.has(c.toLowerCase())) || !first.some(isNumber)) {
    const names = first.map((c) => c.toLowerCase());
    const missing = featureNames.filter((n) => !names.includes(n.toLowerCase()));
    if (missing.length) {
      errors.push(`Line 1 looks like a header but has no column for ${missing.join(", ")}. ` +
        `Expected columns: ${featureNames.join(", ")} (and optionally subject).`);
      return { subjects, features, errors };
    }
    columns = featureNames.map((n) => names.indexOf(n.toLowerCase()));
    const s = names.findIndex((n) => n === "subject" || n === "id");
    subjectColumn = s >= 0 ? s : null;
    lines.shift();
  }
  const seen = new Set();
  for (const { line, text: raw } of lines) {
    if (features.length >= MAX_ROWS) {
      errors.push(`More than ${MAX_ROWS} rows: split the file into several batches.`);
      break;
    }
    const cells = splitLine(raw);
    let cols = columns;
    let subjectAt = subjectColumn;
    if (!cols) {
      if (cells.length === width) cols = [...Array(width).keys()];
      else if (cells.length === width + 1 && !isNumber(cells[0])) {
        subjectAt = 0;
        cols = [...Array(width).keys()].map((i) => i + 1);
      } else {
        errors.push(`Line ${line}: ${cells.length} values, expected ${width} (${featureNames.join(", ")}), ` +
          "optionally after a subject id.");
        continue;
      }
    }
    const row = [];
    let bad = false;
    cols.forEach((at, i) => {
      const cell = cells[at] ?? "";
      const value = Number(cell);
      if (!isNumber(cell) || !Number.isFinite(value) || Math.abs(value) > MAX_ABS) {
        errors.push(`Line ${line}, ${featureNames[i]}: “${cell}” is not a finite number.`);
        bad = true;
      }
      row.push(value);
    });
    const subject = subjectAt === null ? makeSubject(line) : cells[subjectAt];
    if (!subject || subject.length > MAX_SUBJECT) {
      errors.push(`Line ${line}: the subject id must be 1 to ${MAX_SUBJECT} characters.`);
      bad = true;
    } else if (seen.has(subject)) {
      errors.push(`Line ${line}: subject “${subject}” appears twice.`);
      bad = true;
    }
    if (bad) continue;
    seen.add(subject);
    subjects.push(subject);
    features.push(row);
  }
  return { subjects, features, errors };
}
