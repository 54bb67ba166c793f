import type { SweepDetail } from "../api/client";

export default function RobustnessView({ sweep }: { sweep: SweepDetail }) {
  return <div>{sweep.name}</div>;
}
