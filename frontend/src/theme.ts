// Colours of the two themes, for the charts (the page itself uses the CSS variables of
// styles.css, set by data-theme on <html>).

import { useEffect, useState } from "react";
import { useStore } from "./store";

export type ThemeName = "light" | "dark";

export interface Palette {
  name: ThemeName;
  bg: string;
  panel: string;
  text: string;
  muted: string;
  grid: string;
  axis: string;
  accent: string;
  good: string;
  bad: string;
  series: string[];
  /** diverging, bad -> neutral -> good (colour-blind safe: orange/red to blue) */
  diverging: string[];
  /** sequential, low -> high (viridis) */
  sequential: string[];
  hatch: string;
  shade: string;
}

const SERIES_LIGHT = [
  "#1f77b4",
  "#e8710a",
  "#2ca02c",
  "#d62728",
  "#9467bd",
  "#8c564b",
  "#e377c2",
  "#7f7f7f",
  "#bcbd22",
  "#17becf",
];
const SERIES_DARK = [
  "#5aa9ff",
  "#ff9f43",
  "#5fd068",
  "#ff6b6b",
  "#b694ff",
  "#c89f86",
  "#ff8fd2",
  "#b0b0b0",
  "#dede5a",
  "#4fd6e8",
];
const VIRIDIS = ["#440154", "#414487", "#2a788e", "#22a884", "#7ad151", "#fde725"];

export const PALETTES: Record<ThemeName, Palette> = {
  light: {
    name: "light",
    bg: "#ffffff",
    panel: "#f6f8fa",
    text: "#1f2328",
    muted: "#656d76",
    grid: "#e4e8ec",
    axis: "#8c959f",
    accent: "#0969da",
    good: "#1a7f37",
    bad: "#cf222e",
    series: SERIES_LIGHT,
    diverging: ["#b2182b", "#ef8a62", "#fddbc7", "#f7f7f7", "#d1e5f0", "#67a9cf", "#2166ac"],
    sequential: VIRIDIS,
    hatch: "#9aa4ae",
    shade: "rgba(207, 34, 46, 0.10)",
  },
  dark: {
    name: "dark",
    bg: "#0d1117",
    panel: "#161b22",
    text: "#e6edf3",
    muted: "#8d96a0",
    grid: "#262c33",
    axis: "#6e7681",
    accent: "#4493f8",
    good: "#3fb950",
    bad: "#f85149",
    series: SERIES_DARK,
    diverging: ["#d6604d", "#b4543f", "#6b3b33", "#2d333b", "#2f4b63", "#3f7fb5", "#6cb4f0"],
    sequential: VIRIDIS,
    hatch: "#4a525c",
    shade: "rgba(248, 81, 73, 0.09)",
  },
};

function systemDark(): boolean {
  return (
    typeof window !== "undefined" && !!window.matchMedia?.("(prefers-color-scheme: dark)").matches
  );
}

/** The resolved theme (following the system when the choice is "system"), applied to <html>. */
export function useThemeName(): ThemeName {
  const choice = useStore((s) => s.theme);
  const [sys, setSys] = useState(systemDark());
  useEffect(() => {
    const mq = window.matchMedia?.("(prefers-color-scheme: dark)");
    if (!mq) return;
    const on = () => setSys(mq.matches);
    mq.addEventListener("change", on);
    return () => mq.removeEventListener("change", on);
  }, []);
  const name: ThemeName = choice === "system" ? (sys ? "dark" : "light") : choice;
  useEffect(() => {
    document.documentElement.dataset.theme = name;
  }, [name]);
  return name;
}

export function usePalette(): Palette {
  return PALETTES[useThemeName()];
}
