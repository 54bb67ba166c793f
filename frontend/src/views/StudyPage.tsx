export default function StudyPage() {
  return <div>study</div>;
}
