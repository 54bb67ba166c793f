import type { SweepDetail } from "../api/client";

export default function Landscape({ sweep }: { sweep: SweepDetail }) {
  return <div>{sweep.name}</div>;
}
