import type { SweepDetail } from "../api/client";

export function SweepCompare({ sweep }: { sweep: SweepDetail }) {
  return <div>{sweep.name}</div>;
}

export default function ComparePage() {
  return <div>compare</div>;
}
