// The program being edited, kept in localStorage so a reload does not lose it.

const DRAFT_STORAGE = "throwbox.draft";

export function saveDraft(state) {
  try {
    localStorage.setItem(DRAFT_STORAGE, JSON.stringify(state));
  } catch {
    // storage full or disabled: the draft is a convenience only
  }
}

export function loadDraft() {
  try {
    const d = JSON.parse(localStorage.getItem(DRAFT_STORAGE) || "null");
    const ok = d && Array.isArray(d.files) && d.files.length > 0
      && d.files.every((f) => typeof f.name === "string" && typeof f.content === "string");
    return ok ? d : null;
  } catch {
    return null;   // an unreadable draft is ignored
  }
}
