export default function RunPage({ kind }: { kind: "run" | "backtest" | "trial" }) {
  return <div>{kind}</div>;
}
