// Three things @xterm/addon-serialize 0.14 gets wrong, put right after it, so a keyframe
// redraws exactly the screen it was taken from and a replay can go on from it:
// - A blank row followed by a wrapped row is drawn with a run of dashes that is then erased,
//   moving with `CSI 0 C`, which terminals read as one column: a dash stays behind. Its output
//   holds no escape sequence but its own, so dropping the zero moves is safe.
// - It restores the cursor by relative moves counted from where its drawing ended; when that
//   was a full row the count is one column off. An absolute move at the end fixes it.
// - It cannot express a cursor waiting to wrap (after a character lands in the last column,
//   the next one starts a new row). Printing that last cell again, with its own attributes,
//   leaves a fresh terminal in the same state. Then the current text attributes (the pen)
//   are set again, read from where the addon itself reads them.
import type { Terminal } from "./xterm.js";

/** What both a screen cell and xterm's current attributes answer. */
interface Attributes {
  isBold(): number;
  isDim(): number;
  isItalic(): number;
  isUnderline(): number;
  isBlink(): number;
  isInverse(): number;
  isInvisible(): number;
  isStrikethrough(): number;
  isOverline(): number;
  isFgRGB(): boolean;
  isBgRGB(): boolean;
  isFgPalette(): boolean;
  isBgPalette(): boolean;
  getFgColor(): number;
  getBgColor(): number;
}

export function repairSerialized(term: Terminal, serialized: string): string {
  const buffer = term.buffer.active;
  let out = serialized.replaceAll("\x1b[0C", "").replaceAll("\x1b[0D", "");
  const waiting = buffer.cursorX >= term.cols;
  let col = Math.min(buffer.cursorX, term.cols - 1);
  if (waiting) {
    const line = buffer.getLine(buffer.viewportY + buffer.cursorY);
    let cell = line?.getCell(col);
    if (cell && cell.getWidth() === 0) cell = line?.getCell(--col); // right half of a wide character
    out += `\x1b[${buffer.cursorY + 1};${col + 1}H`;
    if (cell) out += sgr(cell) + (cell.getChars() || " ") + sgr(pen(term));
  } else {
    out += `\x1b[${buffer.cursorY + 1};${col + 1}H`;
  }
  return out;
}

const DEFAULT_PEN: Attributes = {
  isBold: () => 0,
  isDim: () => 0,
  isItalic: () => 0,
  isUnderline: () => 0,
  isBlink: () => 0,
  isInverse: () => 0,
  isInvisible: () => 0,
  isStrikethrough: () => 0,
  isOverline: () => 0,
  isFgRGB: () => false,
  isBgRGB: () => false,
  isFgPalette: () => false,
  isBgPalette: () => false,
  getFgColor: () => -1,
  getBgColor: () => -1,
};

function pen(term: Terminal): Attributes {
  const attrs = (term as unknown as { _core?: { _inputHandler?: { _curAttrData?: Attributes } } })._core?._inputHandler?._curAttrData;
  return attrs && typeof attrs.isBold === "function" ? attrs : DEFAULT_PEN;
}

function sgr(a: Attributes): string {
  const p = ["0"];
  const flags: [number, string][] = [
    [a.isBold(), "1"],
    [a.isDim(), "2"],
    [a.isItalic(), "3"],
    [a.isUnderline(), "4"],
    [a.isBlink(), "5"],
    [a.isInverse(), "7"],
    [a.isInvisible(), "8"],
    [a.isStrikethrough(), "9"],
    [a.isOverline(), "53"],
  ];
  for (const [on, code] of flags) if (on) p.push(code);
  color(p, a.isFgRGB(), a.isFgPalette(), a.getFgColor(), 30);
  color(p, a.isBgRGB(), a.isBgPalette(), a.getBgColor(), 40);
  return `\x1b[${p.join(";")}m`;
}

function color(p: string[], rgb: boolean, palette: boolean, c: number, base: number): void {
  if (rgb) p.push(`${base + 8};2;${(c >> 16) & 255};${(c >> 8) & 255};${c & 255}`);
  else if (palette && c < 8) p.push(String(base + c));
  else if (palette && c < 16) p.push(String(base + 60 + c - 8));
  else if (palette) p.push(`${base + 8};5;${c}`);
}
